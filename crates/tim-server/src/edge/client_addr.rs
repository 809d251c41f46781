//! The client's address behind a reverse proxy: `trusted_proxies` (CIDR blocks) names the peers whose
//! `X-Forwarded-For` or RFC 7239 `Forwarded: for=` headers are believed. From such a peer the client is the
//! right-most address of the header that is not itself a trusted proxy (each proxy appends the address it
//! saw, so everything left of the first untrusted hop may be forged by the client). `Forwarded` is read
//! when present, else `X-Forwarded-For`. From any other peer these headers are ignored (and counted in
//! `tim_forwarded_headers_ignored_total`): the client is the peer itself.

use std::net::IpAddr;

/// An address block, `10.0.0.0/8` or `2001:db8::/32` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr {
            addr: crate::limits::mask(addr.to_canonical(), len),
            len,
        })
    }
}

impl Cidr {
    /// True when `ip` lies in the block (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && crate::limits::mask(ip, self.len) == self.addr
    }
}

/// What the headers of one request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwarding {
    /// No forwarding header, or the client address came from one.
    Believed,
    /// An untrusted peer sent a forwarding header: ignored.
    Ignored,
}

/// The trusted proxies of the config.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// From the config's (validated) `trusted_proxies`.
    pub fn new(blocks: &[String]) -> TrustedProxies {
        TrustedProxies(blocks.iter().filter_map(|b| b.parse().ok()).collect())
    }

    /// True when headers of this peer are believed.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// True when no proxy is trusted (headers are never read).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client's address of a request from `peer` with these headers (name, value), and whether a
    /// forwarding header was ignored.
    pub fn client<'a>(&self, peer: IpAddr, headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> (IpAddr, Forwarding) {
        let peer = peer.to_canonical();
        let mut forwarded: Vec<&[u8]> = Vec::new();
        let mut xff: Vec<&[u8]> = Vec::new();
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("forwarded") {
                forwarded.push(value);
            } else if name.eq_ignore_ascii_case("x-forwarded-for") {
                xff.push(value);
            }
        }
        if forwarded.is_empty() && xff.is_empty() {
            return (peer, Forwarding::Believed);
        }
        if !self.contains(peer) {
            return (peer, Forwarding::Ignored);
        }
        // Every hop, left to right; `None` for one that is not an address (`unknown`, `_hidden`).
        let hops: Vec<Option<IpAddr>> = if forwarded.is_empty() {
            list(&xff).map(|h| parse_hop(h.trim())).collect()
        } else {
            list(&forwarded).map(forwarded_for).collect()
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(ip) => {
                    client = ip.to_canonical();
                    if !self.contains(client) {
                        break;
                    }
                }
                // The hop before the proxy we trust is not known: stop at that proxy.
                None => break,
            }
        }
        (client, Forwarding::Believed)
    }
}

/// The comma-separated elements of every line of a header, in order.
fn list<'a>(lines: &'a [&'a [u8]]) -> impl Iterator<Item = &'a str> {
    lines
        .iter()
        .flat_map(|l| std::str::from_utf8(l).unwrap_or("\u{0}").split(','))
}

/// The `for=` of one `Forwarded` element (`for=192.0.2.60;proto=http`, `for="[2001:db8::1]:4711"`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_hop(v.trim().trim_matches('"')))?
    })
}

/// One hop: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        // Untrusted header text: what does not parse is not an address (a real answer, no I/O here).
        return rest.split_once(']')?.0.parse().ok();
    }
    let (ip, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn client(t: &TrustedProxies, peer: &str, headers: &[(&str, &str)]) -> (IpAddr, Forwarding) {
        t.client(ip(peer), headers.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    #[test]
    fn cidr_blocks() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains(ip("10.1.255.3")) && !c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains(ip("2001:db8:ffff::1")) && !c.contains(ip("2001:db9::1")));
        assert!("127.0.0.1".parse::<Cidr>().unwrap().contains(ip("127.0.0.1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "::/129", "x/8", "10.0.0.0/", "10.0.0/8"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_right_most_untrusted_hop_from_a_trusted_peer() {
        let t = TrustedProxies::new(&["127.0.0.1/32".into(), "10.0.0.0/8".into()]);
        let xff = |v: &'static str| [("X-Forwarded-For", v)];
        assert_eq!(client(&t, "127.0.0.1", &xff("203.0.113.5")).0, ip("203.0.113.5"));
        // A client's forged left part is skipped; trusted hops on the right are walked over.
        assert_eq!(
            client(&t, "127.0.0.1", &xff("1.1.1.1, 203.0.113.5, 10.0.0.7")).0,
            ip("203.0.113.5")
        );
        assert_eq!(client(&t, "127.0.0.1", &xff("10.0.0.9, 10.0.0.7")).0, ip("10.0.0.9"));
        assert_eq!(client(&t, "127.0.0.1", &xff("garbage, 10.0.0.7")).0, ip("10.0.0.7"));
        assert_eq!(client(&t, "127.0.0.1", &xff("203.0.113.5:4000")).0, ip("203.0.113.5"));
        // Two header lines are one list.
        let two = [("x-forwarded-for", "203.0.113.5"), ("X-Forwarded-For", "198.51.100.1")];
        assert_eq!(client(&t, "127.0.0.1", &two).0, ip("198.51.100.1"));
        let fwd = [("Forwarded", "for=198.51.100.1;proto=http, for=\"[2001:db8::7]:4711\"")];
        assert_eq!(client(&t, "10.0.0.1", &fwd).0, ip("2001:db8::7"));
        // Forwarded wins over X-Forwarded-For.
        let both = [("X-Forwarded-For", "203.0.113.5"), ("Forwarded", "for=198.51.100.1")];
        assert_eq!(client(&t, "127.0.0.1", &both).0, ip("198.51.100.1"));
        assert_eq!(
            client(&t, "127.0.0.1", &[("Forwarded", "for=unknown")]).0,
            ip("127.0.0.1")
        );
        assert_eq!(client(&t, "127.0.0.1", &[]), (ip("127.0.0.1"), Forwarding::Believed));
    }

    #[test]
    fn an_untrusted_peers_headers_are_ignored() {
        let t = TrustedProxies::new(&["127.0.0.1/32".into()]);
        let xff = [("X-Forwarded-For", "203.0.113.5")];
        assert_eq!(client(&t, "127.0.0.2", &xff), (ip("127.0.0.2"), Forwarding::Ignored));
        let none = TrustedProxies::new(&[]);
        assert_eq!(client(&none, "127.0.0.1", &xff), (ip("127.0.0.1"), Forwarding::Ignored));
        assert_eq!(
            client(&none, "::ffff:127.0.0.1", &[]),
            (ip("127.0.0.1"), Forwarding::Believed)
        );
    }
}
