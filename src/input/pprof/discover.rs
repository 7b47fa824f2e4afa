//! Which TCP ports the watched program listens on, from /proc: the
//! program's socket inodes (its `fd` links, and those of the processes it
//! started) matched against the listening sockets of `/proc/PID/net/tcp`
//! and `tcp6`.
//!
//! In: a pid. Out: the loopback addresses at which those ports can be
//! reached. Only the program's own listening ports come out, and only at a
//! loopback address: a port bound to another address is never offered for
//! probing. The parsers of the files' text are pure; [`listening`] reads
//! /proc and nothing else (no network).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP_LISTEN, as /proc/net/tcp prints the state.
const LISTEN: &str = "0A";
/// Processes of the program's tree looked at.
const MAX_PROCESSES: usize = 64;

/// A listening socket from /proc/net/tcp{,6}.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub addr: SocketAddr,
    pub inode: u64,
}

/// The listening sockets of a /proc/net/tcp or tcp6 table.
pub fn parse_tcp_table(text: &str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != LISTEN {
                return None;
            }
            let addr = parse_address(f[1])?;
            let inode = f[9].parse().ok()?;
            Some(Listener { addr, inode })
        })
        .collect()
}

/// `0100007F:1F90` or the 32-hex-digit IPv6 form. The kernel prints each
/// 32-bit word of the address as a native integer, the port in host order.
fn parse_address(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| {
        ip.get(i * 8..i * 8 + 8)
            .and_then(|w| u32::from_str_radix(w, 16).ok())
            .map(u32::to_ne_bytes)
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// `socket:[12345]`, the target of a socket's fd link.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Where a listening socket can be reached over loopback: itself when
/// bound to loopback, the loopback address of its family when bound to
/// every address; none when bound to another address.
pub fn loopback_target(addr: SocketAddr) -> Option<SocketAddr> {
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let ip = if ip.is_loopback() {
        ip
    } else if ip.is_unspecified() {
        match ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }
    } else {
        return None;
    };
    Some(SocketAddr::new(ip, addr.port()))
}

/// The loopback addresses of the sockets among `listeners` whose inode is
/// one of `inodes`, one per port (IPv4 first), in port order.
pub fn own_targets(listeners: &[Listener], inodes: &HashSet<u64>) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = listeners
        .iter()
        .filter(|l| inodes.contains(&l.inode))
        .filter_map(|l| loopback_target(l.addr))
        .collect();
    out.sort_by_key(|a| (a.port(), a.is_ipv6()));
    out.dedup_by_key(|a| a.port());
    out
}

/// The program's own listening ports now, at loopback addresses; empty
/// when it has none or has exited.
pub fn listening(pid: u32) -> Vec<SocketAddr> {
    let pids = process_tree(pid);
    let mut inodes = HashSet::new();
    for p in &pids {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{p}/fd")) else {
            continue;
        };
        for entry in dir.flatten() {
            if let Ok(link) = std::fs::read_link(entry.path())
                && let Some(inode) = link.to_str().and_then(socket_inode)
            {
                inodes.insert(inode);
            }
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut listeners = Vec::new();
    for table in ["tcp", "tcp6"] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) {
            listeners.extend(parse_tcp_table(&text));
        }
    }
    own_targets(&listeners, &inodes)
}

/// `pid` and the processes it started, and theirs (a program run through
/// a shell script), at most [`MAX_PROCESSES`].
fn process_tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() && out.len() < MAX_PROCESSES {
        let p = out[i];
        i += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                out.extend(parse_children(&children));
            }
        }
    }
    out.truncate(MAX_PROCESSES);
    out
}

fn parse_children(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.split_whitespace().filter_map(|w| w.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as a Linux kernel prints them (x86_64, little-endian).
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:17AC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0
   2: 0A00020F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0
   3: 0100007F:17AC 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 444 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:1B58 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 666 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn listening_sockets_are_read_with_their_inodes() {
        let l = parse_tcp_table(TCP);
        // The established connection (state 01) is not a listener.
        assert_eq!(l.len(), 3);
        if cfg!(target_endian = "little") {
            assert_eq!(l[0].addr, "127.0.0.1:6060".parse().unwrap());
            assert_eq!(l[1].addr, "0.0.0.0:8080".parse().unwrap());
            assert_eq!(l[2].addr, "15.2.0.10:9000".parse().unwrap());
            let l6 = parse_tcp_table(TCP6);
            assert_eq!(l6[0].addr, "[::]:80".parse().unwrap());
            assert_eq!(l6[1].addr, "[::1]:7000".parse().unwrap());
        }
        assert_eq!(l[0].inode, 111);
    }

    #[test]
    fn only_the_programs_own_ports_are_offered_and_only_at_loopback() {
        if !cfg!(target_endian = "little") {
            return;
        }
        let mut all = parse_tcp_table(TCP);
        all.extend(parse_tcp_table(TCP6));
        let mine: HashSet<u64> = [111, 222, 333, 666].into();
        let t = own_targets(&all, &mine);
        let want: Vec<SocketAddr> = ["127.0.0.1:6060", "[::1]:7000", "127.0.0.1:8080"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        // 333 listens on another machine-facing address only: not probed;
        // 555 is another process's.
        assert_eq!(t, want);
    }

    #[test]
    fn odd_lines_are_skipped() {
        assert!(parse_tcp_table("header\n0: zz:zz 0 0A 0 0 0 0 0 1\n\n").is_empty());
        assert_eq!(socket_inode("socket:[42]"), Some(42));
        assert_eq!(socket_inode("pipe:[42]"), None);
        assert_eq!(socket_inode("anon_inode:[eventpoll]"), None);
    }
}
