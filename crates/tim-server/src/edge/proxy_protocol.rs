//! The PROXY protocol (HAProxy's, versions 1 and 2) at the start of a connection, for `proxy_protocol =
//! true`: the load balancer tells the server the client's address before any byte of HTTP.
//!
//! Spec: <https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt>. Version 1 is one text line of at
//! most 107 bytes (`PROXY TCP4 1.2.3.4 5.6.7.8 1234 80\r\n`, or `PROXY UNKNOWN ...\r\n`); version 2 is a
//! 16-byte binary header (12-byte signature, version/command, family/protocol, length) and that many bytes
//! of addresses and TLVs. `UNKNOWN` (v1) and `LOCAL` (v2, the balancer's own health checks) carry no client:
//! the connection's own peer address stands.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The version 2 signature.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 line (the spec's bound), CRLF included.
const V1_MAX: usize = 107;

/// The largest version 2 header accepted (16 bytes plus addresses and TLVs; HAProxy's own TLVs are small).
pub const V2_MAX: usize = 16 + 1024;

/// A complete PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The client's address, or `None` for `UNKNOWN` / `LOCAL` (use the connection's peer).
    pub source: Option<SocketAddr>,
    /// The header's length: the bytes after it are the client's.
    pub len: usize,
}

/// Parses the start of a connection: `None` while more bytes are needed, `Some(Err(why))` when these bytes
/// are not a valid PROXY header (the connection is refused).
pub fn parse(buf: &[u8]) -> Option<Result<Header, &'static str>> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return if n < V2_SIGNATURE.len() { None } else { parse_v2(buf) };
    }
    let n = buf.len().min(6);
    if buf[..n] != b"PROXY "[..n] {
        return Some(Err("no PROXY header"));
    }
    match buf.iter().take(V1_MAX).position(|&b| b == b'\n') {
        Some(at) => Some(parse_v1(&buf[..=at])),
        None if buf.len() >= V1_MAX => Some(Err("PROXY v1 line too long")),
        None => None,
    }
}

fn parse_v1(line: &[u8]) -> Result<Header, &'static str> {
    let text = line
        .strip_suffix(b"\r\n")
        .and_then(|l| std::str::from_utf8(l).ok())
        .ok_or("PROXY v1 line not ending in CRLF")?;
    let len = line.len();
    let mut parts = text.split(' ');
    let _proxy = parts.next();
    match parts.next() {
        Some("UNKNOWN") => Ok(Header { source: None, len }),
        Some(family @ ("TCP4" | "TCP6")) => {
            let fields: Vec<&str> = parts.collect();
            let [src, dst, sport, dport] = fields[..] else {
                return Err("PROXY v1 line without 4 fields");
            };
            let src: IpAddr = src.parse().map_err(|_| "PROXY v1 bad source address")?;
            let dst: IpAddr = dst.parse().map_err(|_| "PROXY v1 bad destination address")?;
            if (family == "TCP4") != (src.is_ipv4() && dst.is_ipv4()) || src.is_ipv4() != dst.is_ipv4() {
                return Err("PROXY v1 family and addresses disagree");
            }
            let port = |p: &str| {
                (!p.is_empty()
                    && p.len() <= 5
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && !(p.len() > 1 && p.starts_with('0')))
                .then(|| p.parse::<u16>().ok())
                .flatten()
                .ok_or("PROXY v1 bad port")
            };
            let sport = port(sport)?;
            port(dport)?;
            Ok(Header {
                source: Some(SocketAddr::new(src, sport)),
                len,
            })
        }
        _ => Err("PROXY v1 unknown protocol"),
    }
}

fn parse_v2(buf: &[u8]) -> Option<Result<Header, &'static str>> {
    if buf.len() < 16 {
        return None;
    }
    let ver_cmd = buf[12];
    let fam = buf[13];
    let body = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if ver_cmd >> 4 != 2 {
        return Some(Err("PROXY v2 bad version"));
    }
    if 16 + body > V2_MAX {
        return Some(Err("PROXY v2 header too long"));
    }
    if buf.len() < 16 + body {
        return None;
    }
    let len = 16 + body;
    let addrs = &buf[16..len];
    let source = match ver_cmd & 0x0f {
        // LOCAL: the balancer's own connection (a health check); the addresses are ignored.
        0 => None,
        1 => match fam >> 4 {
            0 => None,
            1 if addrs.len() >= 12 => {
                let ip = Ipv4Addr::new(addrs[0], addrs[1], addrs[2], addrs[3]);
                Some(SocketAddr::new(ip.into(), u16::from_be_bytes([addrs[8], addrs[9]])))
            }
            2 if addrs.len() >= 36 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&addrs[..16]);
                let ip = Ipv6Addr::from(octets);
                Some(SocketAddr::new(ip.into(), u16::from_be_bytes([addrs[32], addrs[33]])))
            }
            // AF_UNIX: no IP address to use.
            3 => None,
            _ => return Some(Err("PROXY v2 bad family or short addresses")),
        },
        _ => return Some(Err("PROXY v2 bad command")),
    };
    Some(Ok(Header { source, len }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(cmd: u8, fam: u8, addrs: &[u8]) -> Vec<u8> {
        let mut b = V2_SIGNATURE.to_vec();
        b.push(0x20 | cmd);
        b.push(fam);
        b.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
        b.extend_from_slice(addrs);
        b
    }

    #[test]
    fn v1_lines() {
        let line = b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 9000\r\nGET /ws";
        let h = parse(line).unwrap().unwrap();
        assert_eq!(h.source, Some("192.0.2.7:56324".parse().unwrap()));
        assert_eq!(&line[h.len..], b"GET /ws");
        let h = parse(b"PROXY TCP6 2001:db8::1 ::1 1 2\r\n").unwrap().unwrap();
        assert_eq!(h.source, Some("[2001:db8::1]:1".parse().unwrap()));
        assert_eq!(parse(b"PROXY UNKNOWN whatever\r\n").unwrap().unwrap().source, None);
        assert!(parse(b"PROXY TCP4 1.2.3.4").is_none(), "incomplete waits");
        assert!(parse(b"PRO").is_none());
        for bad in [
            &b"GET /ws HTTP/1.1\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            assert!(matches!(parse(bad), Some(Err(_))), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(matches!(
            parse(&[b'P', b'R', b'O', b'X', b'Y', b' ', b'x'].repeat(20)),
            Some(Err(_))
        ));
    }

    #[test]
    fn v2_headers() {
        let mut addrs = vec![192, 0, 2, 9, 10, 0, 0, 1];
        addrs.extend_from_slice(&4321u16.to_be_bytes());
        addrs.extend_from_slice(&9000u16.to_be_bytes());
        let mut bytes = v2(1, 0x11, &addrs);
        let header_len = bytes.len();
        bytes.extend_from_slice(b"GET");
        let h = parse(&bytes).unwrap().unwrap();
        assert_eq!((h.source, h.len), (Some("192.0.2.9:4321".parse().unwrap()), header_len));
        for cut in 0..header_len {
            assert!(parse(&bytes[..cut]).is_none(), "{cut} bytes wait");
        }
        let mut addrs6 = vec![0u8; 36];
        addrs6[0] = 0x20;
        addrs6[1] = 0x01;
        addrs6[15] = 5;
        addrs6[33] = 7;
        let h = parse(&v2(1, 0x21, &addrs6)).unwrap().unwrap();
        assert_eq!(h.source, Some("[2001::5]:7".parse().unwrap()));
        assert_eq!(parse(&v2(0, 0x00, &[])).unwrap().unwrap().source, None, "LOCAL");
        assert!(matches!(parse(&v2(1, 0x11, &[1, 2, 3])), Some(Err(_))));
        assert!(matches!(parse(&v2(2, 0x11, &addrs)), Some(Err(_))));
        let mut v1 = v2(1, 0x11, &addrs);
        v1[12] = 0x11;
        assert!(matches!(parse(&v1), Some(Err(_))));
    }
}
