//! Process facts read from `/proc` and raised with `setrlimit`.

/// Resident memory of process `pid` in bytes (`VmRSS` of `/proc/PID/status`); `None` if unreadable.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time process `pid` has used so far, all threads, user and system (the first field of each
/// `/proc/PID/task/TID/schedstat`, in nanoseconds); `None` if unreadable. Threads that already exited
/// are not counted, so read it on a process whose threads live as long as it does (a tokio runtime).
pub fn cpu_time(pid: u32) -> Option<std::time::Duration> {
    let mut total: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(std::time::Duration::from_nanos(total))
}

/// Raises this process's open-file soft limit to its hard limit (children inherit it) and returns the
/// new soft limit. The hard limit itself can only be raised with `CAP_SYS_RESOURCE`: tried, ignored if refused.
pub fn raise_nofile_limit(wanted: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_max < wanted {
            let raised = libc::rlimit {
                rlim_cur: wanted,
                rlim_max: wanted,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return wanted;
            }
        }
        lim.rlim_cur = lim.rlim_max.min(wanted.max(lim.rlim_cur));
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_rss_and_limit() {
        let rss = rss_bytes(std::process::id()).expect("own /proc status");
        assert!(rss > 100_000, "rss {rss}");
        assert!(raise_nofile_limit(4096) >= 1024);
        let spent = cpu_time(std::process::id()).expect("own /proc schedstat");
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(20) {}
        assert!(
            cpu_time(std::process::id()).expect("own /proc schedstat") >= spent + std::time::Duration::from_millis(10)
        );
    }
}
