//! The watched process's resident memory from /proc: pure parsers of the
//! files' text, and a task that samples twice a second and after each GC.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::task::JoinHandle;

use crate::input::child::Alive;
use crate::store::hub::{Hub, Live};
use crate::store::rss_sample::RssSample;
use crate::trace::event::Record;

/// The steady sampling rate: twice a second.
const PERIOD: Duration = Duration::from_millis(500);
/// GC-triggered samples are at least this far apart: a program can collect
/// hundreds of times a second, and watching must stay cheap. The GCs of one
/// gap share the sample taken at its end; ten a second is still five times
/// the steady rate, and finer than a chart of RSS can show.
const MIN_GAP: Duration = Duration::from_millis(100);

/// The memory figures of /proc/PID/status, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusMemory {
    pub rss_kib: u64,
    pub anon_kib: Option<u64>,
    pub file_kib: Option<u64>,
}

/// The value of a `Key:   1234 kB` line, the form of /proc/PID/status and
/// smaps_rollup. Keys are matched whole, so a process name cannot pose as
/// one (the `Name:` line is escaped by the kernel and keyed `Name`).
fn kib_field(text: &[u8], key: &[u8]) -> Option<u64> {
    text.split(|&b| b == b'\n').find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(b":")?;
        let mut words = rest
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let number = words.next()?;
        if !matches!(words.next(), Some(b"kB") | None) {
            return None;
        }
        std::str::from_utf8(number).ok()?.parse().ok()
    })
}

/// VmRSS, RssAnon and RssFile from /proc/PID/status. `None` without VmRSS,
/// which is how a process that has exited (a zombie) shows.
pub fn parse_status(text: &[u8]) -> Option<StatusMemory> {
    Some(StatusMemory {
        rss_kib: kib_field(text, b"VmRSS")?,
        anon_kib: kib_field(text, b"RssAnon"),
        file_kib: kib_field(text, b"RssFile"),
    })
}

/// LazyFree from /proc/PID/smaps_rollup: memory freed with MADV_FREE that
/// still counts in RSS until the kernel needs it.
pub fn parse_lazyfree(text: &[u8]) -> Option<u64> {
    kib_field(text, b"LazyFree")
}

/// One sample from the two files' text.
pub fn sample(t_s: f64, status: &[u8], smaps_rollup: Option<&[u8]>) -> Option<RssSample> {
    let m = parse_status(status)?;
    Some(RssSample {
        t_s,
        rss_kib: m.rss_kib,
        anon_kib: m.anon_kib,
        file_kib: m.file_kib,
        lazyfree_kib: smaps_rollup.and_then(parse_lazyfree),
    })
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks
/// after boot. The name in field 2 may hold spaces and parentheses, so
/// fields are counted after its last `)`.
pub fn parse_start_ticks(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let field = stat[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .nth(19)?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Seconds since boot, the first number of /proc/uptime.
pub fn parse_uptime_s(text: &[u8]) -> Option<f64> {
    let first = text.split(|b| b.is_ascii_whitespace()).next()?;
    let s: f64 = std::str::from_utf8(first).ok()?.parse().ok()?;
    s.is_finite().then_some(s)
}

/// When `pid` started, as an `Instant`: the zero of the Go runtime's `@t`,
/// for sampling a process gcviz did not start (`--pid`).
pub fn started_at(pid: u32) -> Option<Instant> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let uptime = parse_uptime_s(&std::fs::read("/proc/uptime").ok()?)?;
    let ticks = parse_start_ticks(&stat)?;
    let hz = rustix::param::clock_ticks_per_second().max(1);
    let age_s = uptime - ticks as f64 / hz as f64;
    Instant::now().checked_sub(Duration::try_from_secs_f64(age_s.max(0.0)).ok()?)
}

/// Which files a sample reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// /proc/PID/status only: microseconds.
    Status,
    /// Also smaps_rollup, which walks the process's page tables (about a
    /// millisecond of kernel time for a Go heap of some size): on the steady
    /// ticks only, not after every GC. LazyFree changes slowly anyway.
    WithLazyFree,
}

/// The watched process's /proc files, opened at the first sample and read
/// again from the start for each later one: a read of an open file costs a
/// fraction of opening the file by name. An open /proc file stays with the
/// process it was opened for; once that is gone its reads fail, so a later
/// process given the same pid is never sampled.
struct ProcFiles {
    pid: u32,
    start: Instant,
    status: Option<File>,
    /// `None` until first wanted; `Some(None)` when it cannot be read
    /// (it needs ptrace access to the process).
    rollup: Option<Option<File>>,
    buf: Vec<u8>,
    rollup_buf: Vec<u8>,
}

impl ProcFiles {
    fn new(pid: u32, start: Instant) -> Self {
        ProcFiles {
            pid,
            start,
            status: None,
            rollup: None,
            buf: Vec::new(),
            rollup_buf: Vec::new(),
        }
    }

    /// One sample now; `None` once the process is gone.
    fn read(&mut self, depth: Depth) -> Option<RssSample> {
        let t_s = self.start.elapsed().as_secs_f64();
        let pid = self.pid;
        if self.status.is_none() {
            self.status = File::open(format!("/proc/{pid}/status")).ok();
        }
        read_whole(self.status.as_ref()?, &mut self.buf).ok()?;
        let rollup = match depth {
            Depth::WithLazyFree => {
                let file = self
                    .rollup
                    .get_or_insert_with(|| File::open(format!("/proc/{pid}/smaps_rollup")).ok());
                file.as_ref()
                    .and_then(|f| read_whole(f, &mut self.rollup_buf).ok())
                    .map(|()| &self.rollup_buf[..])
            }
            Depth::Status => None,
        };
        sample(t_s, &self.buf, rollup)
    }
}

/// The whole of a /proc file, read again from its start into `buf`.
fn read_whole(file: &File, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let mut filled = 0;
    loop {
        if buf.len() - filled < 1024 {
            buf.resize(filled + 4096, 0);
        }
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(())
}

/// Samples `pid`, a process gcviz did not start, into the hub; `t_s` counts
/// from `start` (see [`started_at`]). Must be called inside the runtime.
/// The task ends when the process is gone; abort it to stop sooner.
pub fn spawn_sampler(pid: u32, start: Instant, hub: Hub) -> JoinHandle<()> {
    let files = Mutex::new(ProcFiles::new(pid, start));
    spawn_with(hub, move |depth| lock(&files).read(depth))
}

/// Samples the program gcviz runs, never after it has been reaped.
pub(crate) fn spawn_for_child(alive: Alive, start: Instant, hub: Hub) -> JoinHandle<()> {
    let files = Mutex::new(None);
    spawn_with(hub, move |depth| {
        alive
            .with(|pid| {
                lock(&files)
                    .get_or_insert_with(|| ProcFiles::new(pid, start))
                    .read(depth)
            })
            .flatten()
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn spawn_with<F>(hub: Hub, read: F) -> JoinHandle<()>
where
    F: Fn(Depth) -> Option<RssSample> + Send + Sync + 'static,
{
    let read = Arc::new(read);
    // Subscribed before the first sample, so no GC is missed.
    let mut live = hub.subscribe();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let take = |depth| {
            let read = read.clone();
            let hub = hub.clone();
            async move {
                let sample = match depth {
                    // A few microseconds: not worth waking another thread,
                    // which on a busy machine costs the program more.
                    Depth::Status => read(depth),
                    // Walks page tables: off the workers that serve the page.
                    Depth::WithLazyFree => tokio::task::spawn_blocking(move || read(depth))
                        .await
                        .ok()
                        .flatten(),
                };
                sample.map(|s| hub.publish_rss(s)).is_some()
            }
        };
        loop {
            let mut depth = tokio::select! {
                _ = tick.tick() => Depth::WithLazyFree,
                msg = live.recv() => match msg {
                    Ok(m) if !is_gc(&m) => continue,
                    // Lagged: messages were missed, some may have been GCs.
                    Ok(_) | Err(RecvError::Lagged(_)) => Depth::Status,
                    Err(RecvError::Closed) => return,
                },
            };
            loop {
                if !take(depth).await {
                    return;
                }
                // The GCs of the next MIN_GAP share one sample at its end;
                // meanwhile the live feed is not even looked at, so a
                // program collecting hundreds of times a second wakes this
                // task no more often than that.
                tokio::time::sleep(MIN_GAP).await;
                match drain(&mut live) {
                    None => return,
                    Some(false) => break,
                    Some(true) => {}
                }
                depth = match tick.tick().now_or_never() {
                    Some(_) => Depth::WithLazyFree,
                    None => Depth::Status,
                };
            }
        }
    })
}

fn is_gc(msg: &Live) -> bool {
    matches!(msg, Live::Record(e) if matches!(e.record, Record::Gc(_) | Record::LegacyGc(_)))
}

/// Takes what waits on the live feed without waiting: whether a GC was
/// among it, or `None` when the hub is gone.
fn drain(live: &mut broadcast::Receiver<Live>) -> Option<bool> {
    let mut gc = false;
    loop {
        match live.try_recv() {
            Ok(msg) => gc |= is_gc(&msg),
            Err(TryRecvError::Empty) => return Some(gc),
            Err(TryRecvError::Lagged(_)) => gc = true,
            Err(TryRecvError::Closed) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &[u8] = b"Name:\tchatty\nUmask:\t0022\nState:\tS (sleeping)\n\
VmPeak:\t 1241700 kB\nVmSize:\t 1241700 kB\nVmHWM:\t   13312 kB\n\
VmRSS:\t   13140 kB\nRssAnon:\t    8704 kB\nRssFile:\t    4436 kB\n\
RssShmem:\t       0 kB\nThreads:\t5\n";

    #[test]
    fn status_gives_rss_anon_and_file() {
        assert_eq!(
            parse_status(STATUS),
            Some(StatusMemory {
                rss_kib: 13140,
                anon_kib: Some(8704),
                file_kib: Some(4436),
            })
        );
    }

    #[test]
    fn a_zombie_has_no_rss() {
        let zombie = b"Name:\tprog\nState:\tZ (zombie)\nThreads:\t1\n";
        assert_eq!(parse_status(zombie), None);
    }

    #[test]
    fn old_kernels_without_the_split_still_give_rss() {
        let old = b"Name:\tprog\nVmRSS:\t  2048 kB\n";
        let m = parse_status(old).unwrap();
        assert_eq!((m.rss_kib, m.anon_kib, m.file_kib), (2048, None, None));
    }

    #[test]
    fn a_process_name_cannot_pose_as_a_field() {
        let text = b"Name:\tVmRSS: 99 kB\nVmRSS:\t 7 kB\n";
        assert_eq!(parse_status(text).unwrap().rss_kib, 7);
    }

    #[test]
    fn garbage_is_not_a_sample() {
        for bad in [
            &b""[..],
            b"VmRSS:\n",
            b"VmRSS:\tlots kB\n",
            b"VmRSS:\t12 MB\n",
            b"VmRSS:\t99999999999999999999999 kB\n",
            b"\xff\xfe\x00VmRSS",
            b"VmRSSx:\t5 kB\n",
        ] {
            assert_eq!(parse_status(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lazyfree_from_smaps_rollup() {
        let rollup = b"55d0c0a00000-7ffd4a3f1000 ---p 00000000 00:00 0  [rollup]\n\
Rss:               13140 kB\nPss:               12000 kB\nLazyFree:           1536 kB\n\
AnonHugePages:         0 kB\n";
        assert_eq!(parse_lazyfree(rollup), Some(1536));
        let s = sample(1.5, STATUS, Some(rollup)).unwrap();
        assert_eq!(s.t_s, 1.5);
        assert_eq!(s.lazyfree_kib, Some(1536));
        assert_eq!(sample(0.0, STATUS, None).unwrap().lazyfree_kib, None);
    }

    #[test]
    fn this_process_sampled_twice_from_the_same_open_files() {
        let mut files = ProcFiles::new(std::process::id(), Instant::now());
        let first = files.read(Depth::WithLazyFree).unwrap();
        let second = files.read(Depth::Status).unwrap();
        assert!(first.rss_kib > 0);
        assert!(second.t_s >= first.t_s);
        assert_eq!(second.lazyfree_kib, None);
        // Read again from the start, not continued where the last read ended.
        assert!(files.read(Depth::Status).unwrap().rss_kib > 0);
    }

    #[test]
    fn a_process_gone_is_not_sampled_through_its_open_files() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let mut files = ProcFiles::new(child.id(), Instant::now());
        assert!(files.read(Depth::Status).is_some());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(files.read(Depth::Status), None);
        assert_eq!(files.read(Depth::WithLazyFree), None);
    }

    #[test]
    fn start_ticks_survive_a_name_with_parentheses() {
        let stat = b"4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 5 0 987654 1241700 3285 18446744073709551615\n";
        assert_eq!(parse_start_ticks(stat), Some(987654));
        assert_eq!(parse_start_ticks(b"4242 (short) S 1"), None);
        assert_eq!(parse_start_ticks(b"no parenthesis"), None);
    }

    #[test]
    fn uptime_is_the_first_number() {
        assert_eq!(parse_uptime_s(b"12345.67 24000.00\n"), Some(12345.67));
        assert_eq!(parse_uptime_s(b"nan 1\n"), None);
        assert_eq!(parse_uptime_s(b""), None);
    }
}
