//! Running the watched program: its environment and stderr pipe, the signals
//! gcviz passes on to it, and its exit status. Process I/O only.

use std::ffi::{OsStr, OsString};
#[cfg(test)]
use std::io::Write;
use std::io::{self, PipeReader, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::pipe::{self as pipe, PipeFlags};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::{Cause, Origin};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::input::reader::Source;

/// The signals gcviz passes on to the program.
pub const FORWARDED: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// The stderr pipe is grown to the first of these the kernel grants, so that
/// a program writing in bursts has room while gcviz is busy. A packet pipe
/// holds one write per page of it: 4096 writes at 16 MiB (a privileged
/// gcviz may go past /proc/sys/fs/pipe-max-size), 256 at 1 MiB (that
/// limit's default, the most an unprivileged program may ask for), 16 at the
/// kernel's default 64 KiB. Pages are taken only as writes fill them.
const PIPE_BYTES: [usize; 2] = [16 << 20, 1 << 20];

/// Set to 1, the program's stderr is read as a byte stream even where the
/// kernel offers packets (to compare the two; benches/overhead.sh).
pub const NO_PACKETS_ENV: &str = "GCVIZ_NO_PACKETS";

/// In byte mode, a read shorter than this means the program writes in dribs
/// and drabs: the Go runtime prints each trace record in dozens of small
/// writes. Waking for every one of them costs the machine more than the
/// parsing does. (A packet pipe is never napped on: each write takes one of
/// its slots whatever its size, so slots, not bytes, would run out.)
const SMALL_READ: usize = 4096;
/// How long the reader waits after a small read before reading again, to
/// take what arrived meanwhile in one go. Text still shows at once to the
/// eye; the pipe holds far more than a program writes in this time.
const NAP: Duration = Duration::from_millis(10);

/// The program while it runs.
pub struct Running {
    pub pid: u32,
    /// Just before the program was started: the zero of gcviz's timeline.
    pub started: Instant,
    /// The program's stderr; ends when every process holding it has closed
    /// it (a grandchild may outlive the program), or at Ctrl-C after the
    /// program has exited.
    pub stderr: Stderr,
    pub alive: Alive,
    /// The exit status, once the program has exited and been reaped.
    pub exit: oneshot::Receiver<io::Result<ExitStatus>>,
}

/// The program's pid for as long as it is ours to signal and inspect.
/// Cleared, under the lock, before the program is reaped: after that the
/// kernel may give the pid to an unrelated process.
#[derive(Clone)]
pub struct Alive(Arc<Mutex<Option<u32>>>);

impl Alive {
    /// Runs `f` with the pid unless the program has already exited.
    pub fn with<R>(&self, f: impl FnOnce(u32) -> R) -> Option<R> {
        let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        guard.map(f)
    }

    fn end(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Starts `program` with `GODEBUG` set to `godebug`, its stdin and stdout
/// inherited and its stderr piped to gcviz.
pub fn spawn(program: &[OsString], godebug: &OsStr) -> Result<Running> {
    let name = program
        .first()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spawn_error = |source| Error::Spawn {
        program: name.clone(),
        source,
    };
    // Registered before the program starts so that a signal arriving at
    // once is forwarded, not lost.
    let signals = SignalsInfo::<WithOrigin>::new(FORWARDED).map_err(spawn_error)?;
    let (wake_rx, wake_tx) = io::pipe().map_err(spawn_error)?;
    let StderrPipe {
        reader: pipe,
        writer: pipe_writer,
        packets,
    } = stderr_pipe().map_err(spawn_error)?;
    let inode = rustix::fs::fstat(&pipe)
        .map_err(|e| spawn_error(e.into()))?
        .st_ino;
    let mut command =
        Command::new(program.first().ok_or_else(|| {
            spawn_error(io::Error::new(io::ErrorKind::NotFound, "no program given"))
        })?);
    command
        .args(&program[1..])
        .env("GODEBUG", godebug)
        // gcviz's secret, not the program's.
        .env_remove("GCVIZ_TOKEN")
        .stderr(Stdio::from(pipe_writer));
    die_with_parent(&mut command);

    let alive = Alive(Arc::new(Mutex::new(None)));
    let (spawned_tx, spawned_rx) = std::sync::mpsc::channel();
    let (exit_tx, exit) = oneshot::channel();
    let started = Instant::now();
    {
        let alive = alive.clone();
        // The parent-death signal fires when the *thread* that started the
        // program ends, so the program is started by a thread that lives
        // exactly as long as the program does: the one that waits for it.
        thread::Builder::new()
            .name("gcviz-child".into())
            .spawn(move || {
                let spawned = command.spawn();
                // The command holds gcviz's copy of the pipe's write end:
                // closed now, the pipe ends when the program's copies do.
                drop(command);
                let mut child = match spawned {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = spawned_tx.send(Err(e));
                        return;
                    }
                };
                *alive.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(child.id());
                let _ = spawned_tx.send(Ok(child.id()));
                wait_until_exited(child.id());
                alive.end();
                drop(wake_tx);
                let _ = exit_tx.send(child.wait());
            })
            .map_err(spawn_error)?;
    }
    let pid = spawned_rx
        .recv()
        .map_err(|_| spawn_error(io::Error::other("the starting thread stopped")))?
        .map_err(spawn_error)?;
    let switch = packets.then(|| Switch {
        alive: alive.clone(),
        fd: 2,
        inode,
    });
    let stderr = Stderr::new(
        pipe,
        packets,
        switch,
        wake_rx,
        interrupts().map_err(spawn_error)?,
    )
    .map_err(spawn_error)?;
    forward_signals(signals, alive.clone());
    Ok(Running {
        pid,
        started,
        stderr,
        alive,
        exit,
    })
}

/// The program's stderr pipe, close-on-exec (gcviz's other children must not
/// hold it open), grown to the first of [`PIPE_BYTES`] the kernel grants.
///
/// Where the kernel offers it, a packet pipe (`O_DIRECT`: each write of up
/// to `PIPE_BUF` bytes is read back on its own, so the runtime's record
/// pieces never merge with the program's text). A packet pipe holds one
/// write per page, so one the kernel will not grow past its default 16
/// writes is not used. Where packets are refused, a byte pipe, said once.
fn stderr_pipe() -> io::Result<StderrPipe> {
    let wanted = std::env::var_os(NO_PACKETS_ENV).is_none_or(|v| v != "1");
    if wanted {
        match pipe::pipe_with(PipeFlags::DIRECT | PipeFlags::CLOEXEC) {
            Ok((r, w)) if grow(&r) => {
                return Ok(StderrPipe {
                    reader: PipeReader::from(r),
                    writer: w,
                    packets: true,
                });
            }
            Ok(_) => eprintln!(
                "gcviz: the kernel would not grow the stderr pipe past 16 writes: \
                 torn records are rebuilt from the bytes alone"
            ),
            Err(e) => eprintln!(
                "gcviz: the kernel refused a packet pipe (O_DIRECT: {e}): \
                 torn records are rebuilt from the bytes alone"
            ),
        }
    }
    let (r, w) = pipe::pipe_with(PipeFlags::CLOEXEC)?;
    grow(&r);
    Ok(StderrPipe {
        reader: PipeReader::from(r),
        writer: w,
        packets: false,
    })
}

/// Grows the pipe to the first size the kernel grants; false if none.
fn grow(pipe: &OwnedFd) -> bool {
    PIPE_BYTES
        .iter()
        .any(|&size| rustix::pipe::fcntl_setpipe_size(pipe, size).is_ok())
}

struct StderrPipe {
    reader: PipeReader,
    /// The program's stderr.
    writer: OwnedFd,
    packets: bool,
}

/// Where the program holds the write end of a packet pipe, to turn packets
/// off through it. gcviz keeps no copy of that end (end of file must come
/// when the program's copies close): it borrows the program's when needed.
struct Switch {
    alive: Alive,
    /// The program's descriptor for the pipe (its stderr).
    fd: i32,
    /// The pipe's inode, to know the descriptor still is the pipe.
    inode: u64,
}

impl Switch {
    /// Turns packets off for every write from now on, through the open file
    /// description the program writes to.
    fn packets_off(&self) -> io::Result<()> {
        use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl, fstat};
        use rustix::process::{PidfdFlags, PidfdGetfdFlags, pidfd_getfd, pidfd_open};
        let gone = || io::Error::other("the program has exited");
        let pid = self.alive.with(|pid| pid).ok_or_else(gone)?;
        let pid = Pid::from_raw(pid as i32).ok_or_else(gone)?;
        let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
        let fd = pidfd_getfd(&pidfd, self.fd, PidfdGetfdFlags::empty())?;
        if fstat(&fd)?.st_ino != self.inode {
            return Err(io::Error::other(
                "the program's stderr is no longer the pipe",
            ));
        }
        fcntl_setfl(&fd, fcntl_getfl(&fd)? - OFlags::DIRECT)?;
        Ok(())
    }
}

/// A socket that becomes readable at each SIGINT gcviz receives, to stop
/// waiting for a stderr a grandchild holds open. On top of the signal
/// forwarding, which leaves SIGINT alone once the program has exited.
fn interrupts() -> io::Result<Interrupts> {
    let (rx, tx) = UnixStream::pair()?;
    rx.set_nonblocking(true)?;
    tx.set_nonblocking(true)?;
    let id = signal_hook::low_level::pipe::register(SIGINT, tx)?;
    Ok(Interrupts { rx, id })
}

/// See [`interrupts`]; unregistered when dropped.
struct Interrupts {
    rx: UnixStream,
    id: signal_hook::SigId,
}

impl Interrupts {
    /// Forgets the interrupts so far.
    fn clear(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.rx).read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
    }
}

/// Checks that `program` names a file gcviz could start, as the shell would
/// find it, so that a typo fails before any URL is printed. The error is
/// the one starting it would give (127 not found, 126 not runnable).
pub fn resolve(program: &[OsString]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Some(name) = program.first() else {
        return Ok(());
    };
    let spawn_error = |source| Error::Spawn {
        program: name.to_string_lossy().into_owned(),
        source,
    };
    let runnable = |p: &std::path::Path| -> io::Result<()> {
        let m = std::fs::metadata(p)?;
        if m.is_dir() || m.permissions().mode() & 0o111 == 0 {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        Ok(())
    };
    if name.as_encoded_bytes().contains(&b'/') {
        return runnable(name.as_ref()).map_err(spawn_error);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut found = Err(io::Error::from(io::ErrorKind::NotFound));
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            std::path::PathBuf::from(".")
        } else {
            dir
        };
        match runnable(&dir.join(name)) {
            Ok(()) => return Ok(()),
            // Like execvp: a file found but not runnable is remembered, and
            // the search goes on.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => found = Err(e),
            Err(_) => {}
        }
    }
    found.map_err(spawn_error)
}

/// Asks the kernel to kill the program if gcviz dies, so it is never left
/// running unseen (its stderr would have no reader anyway). SIGKILL rather
/// than SIGTERM: a program that ignores SIGTERM must not outlive gcviz.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed. It makes two raw system calls
    // (prctl, getppid) through rustix, and builds an io::Error from an errno;
    // none of that allocates, locks or touches the parent's state.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // gcviz may have died before prctl took effect: then nothing will
            // ever send the signal, so do not start at all.
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::from_raw_os_error(
                    rustix::io::Errno::SRCH.raw_os_error(),
                ));
            }
            Ok(())
        });
    }
}

/// Blocks until the program has exited, leaving it unreaped (a zombie keeps
/// its pid, so signals sent meanwhile cannot reach another process).
fn wait_until_exited(pid: u32) {
    let Some(pid) = Pid::from_raw(pid as i32) else {
        return;
    };
    loop {
        match rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            // Exited, or cannot be waited for this way: reaping will tell.
            _ => return,
        }
    }
}

/// The Ctrl-C that makes gcviz kill the program.
const KILL_AT_INTERRUPT: u32 = 3;

/// What to do with a signal gcviz received while the program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Forward(i32),
    /// The third interrupt: the program did not stop at two, the user means
    /// it. (Many programs take a second Ctrl-C as "quit now"; that one must
    /// reach them.)
    Kill,
    /// The program received it already.
    Nothing,
}

/// `delivered`: the signal came from the terminal to the whole foreground
/// process group, which includes the program; sending it again would make a
/// program that treats a second Ctrl-C as "quit now" do so at the first.
/// `interrupts` counts SIGINTs so far, this one included.
fn decide(signal: i32, delivered: bool, interrupts: u32) -> Action {
    match (signal, delivered) {
        (SIGINT, _) if interrupts >= KILL_AT_INTERRUPT => Action::Kill,
        (_, true) => Action::Nothing,
        (s, false) => Action::Forward(s),
    }
}

/// Passes signals on to the program while it runs; afterwards lets them
/// end gcviz as they would have without a handler (SIGINT is left to
/// whoever waits for Ctrl-C while the final picture is served).
fn forward_signals(mut signals: SignalsInfo<WithOrigin>, alive: Alive) {
    let spawned = thread::Builder::new()
        .name("gcviz-signals".into())
        .spawn(move || {
            let mut interrupts = 0;
            for Origin { signal, cause, .. } in signals.forever() {
                if signal == SIGINT {
                    interrupts += 1;
                }
                let forwarded = alive.with(|pid| {
                    let delivered = matches!(cause, Cause::Kernel) && same_group(pid);
                    let (sig, what) = match decide(signal, delivered, interrupts) {
                        Action::Forward(s) => (Signal::from_named_raw(s), "forward"),
                        Action::Kill => {
                            crate::error::say(&format!(
                                "Ctrl-C {interrupts} times: killing the program (SIGKILL)"
                            ));
                            (Some(Signal::KILL), "kill")
                        }
                        Action::Nothing => return,
                    };
                    if let (Some(sig), Some(p)) = (sig, Pid::from_raw(pid as i32))
                        && let Err(e) = rustix::process::kill_process(p, sig)
                    {
                        eprintln!("gcviz: cannot {what} signal {signal} to the program: {e}");
                    }
                });
                if forwarded.is_none() && signal != SIGINT {
                    crate::input::record::flush();
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("gcviz: signals will not reach the program: {e}");
    }
}

/// Whether the program is still in gcviz's process group (it may have made
/// its own), where the terminal's signals reach it directly.
fn same_group(pid: u32) -> bool {
    let group = Pid::from_raw(pid as i32).and_then(|p| rustix::process::getpgid(Some(p)).ok());
    group == Some(rustix::process::getpgrp())
}

/// The program's stderr. Ends at end of file, when every process holding
/// the pipe (the program, and any child it left behind) has closed it; once
/// the program has exited, a Ctrl-C ends it too, after gcviz has said once
/// that it is waiting. Nothing the program or a grandchild wrote is lost to
/// a timer.
pub struct Stderr {
    /// Non-blocking.
    pipe: PipeReader,
    /// A packet pipe: each read(2) returns one write.
    packets: bool,
    /// How to turn packets off, until it is tried.
    switch: Option<Switch>,
    /// What happened to packets, to be said once.
    notice: Option<String>,
    /// Packets read since the pipe was last empty, and their bytes.
    run: (usize, usize),
    /// Writes a packet pipe holds.
    slots: usize,
    /// Packets read in a row between looks at how full the pipe is.
    look_every: usize,
    /// Becomes readable (end of file) when the program exits.
    wake: PipeReader,
    exited: bool,
    interrupts: Interrupts,
    /// The wait for a stderr held open was announced.
    told: bool,
    /// Byte mode: the last read was small, wait a little before the next.
    nap: bool,
}

enum Ready {
    Pipe,
    Exited,
    Interrupted,
    TimedOut,
}

/// How long a stderr held open after the exit stays quiet before gcviz says
/// it is waiting: long enough for the program's last text to be shown
/// first, and for a grandchild that is about to finish to go unremarked.
const QUIET_BEFORE_TELLING: Duration = Duration::from_millis(200);

impl Stderr {
    /// `wake`'s writer is dropped when the program exits.
    fn new(
        pipe: PipeReader,
        packets: bool,
        switch: Option<Switch>,
        wake: PipeReader,
        interrupts: Interrupts,
    ) -> io::Result<Self> {
        let slots = rustix::pipe::fcntl_getpipe_size(&pipe)? / rustix::param::page_size();
        let look_every = LOOK_EVERY.min(slots / 4).max(1);
        // Non-blocking: read what is there, and wait (for data or the exit)
        // only when nothing is.
        rustix::io::ioctl_fionbio(&pipe, true)?;
        Ok(Stderr {
            pipe,
            packets,
            switch,
            notice: None,
            run: (0, 0),
            slots,
            look_every,
            wake,
            exited: false,
            interrupts,
            told: false,
            nap: false,
        })
    }

    /// Waits until the pipe has something (or its end), the program exits,
    /// or, after the exit, a Ctrl-C; or `timeout` passes.
    fn wait(&self, timeout: Option<Duration>) -> io::Result<Ready> {
        let timeout = timeout
            .map(Timespec::try_from)
            .transpose()
            .map_err(|_| io::Error::other("timeout out of range"))?;
        loop {
            let mut fds = [
                PollFd::new(&self.pipe, PollFlags::IN),
                if self.exited {
                    PollFd::new(&self.interrupts.rx, PollFlags::IN)
                } else {
                    PollFd::new(&self.wake, PollFlags::IN)
                },
            ];
            match poll(&mut fds, timeout.as_ref()) {
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(0) => return Ok(Ready::TimedOut),
                Ok(_) if !fds[0].revents().is_empty() => return Ok(Ready::Pipe),
                Ok(_) if fds[1].revents().is_empty() => continue,
                Ok(_) if self.exited => return Ok(Ready::Interrupted),
                Ok(_) => return Ok(Ready::Exited),
            }
        }
    }
}

/// Writes up to this size (on average) take a pipe slot each in packet mode
/// where bytes would fit four or more to a page.
const SMALL_WRITE: usize = 1024;

/// Packets read in a row (the pipe never empty) before gcviz looks at how
/// full the pipe is, and again each time as many more are read (a quarter
/// of the slots, if fewer).
const LOOK_EVERY: usize = 32;

impl Stderr {
    /// After a packet of `len` bytes: is the program writing faster than
    /// gcviz reads its writes one by one, so that it may soon wait? A whole
    /// pipe's worth of writes has been read in a row, the pipe never empty,
    /// and it still holds writes for seven-eighths of its slots (the bytes
    /// waiting over the mean size of the writes read). Only small writes
    /// count: a page of bytes holds many of them, but no more than one of
    /// 4 KiB. A burst gcviz keeps up with never gets there: turning packets
    /// off costs the exactness of the rebuilt records, so only a program
    /// about to wait pays it.
    fn filling(&mut self, len: usize) -> bool {
        self.run = (self.run.0 + 1, self.run.1 + len);
        let (count, bytes) = self.run;
        if self.switch.is_none() || count < self.slots || count % self.look_every != 0 {
            return false;
        }
        if bytes > count * SMALL_WRITE {
            return false;
        }
        let waiting = rustix::io::ioctl_fionread(&self.pipe).unwrap_or(0) as usize;
        waiting * count * 8 >= bytes.max(1) * self.slots * 7
    }

    /// Turns packets off for the program's writes from now on: they merge
    /// in the pipe as bytes, which hold many writes a page, and the byte
    /// scanner rebuilds torn records. The program must never wait for
    /// gcviz. Tried once.
    fn stop_packets(&mut self) {
        let Some(switch) = self.switch.take() else {
            return;
        };
        match switch.packets_off() {
            Ok(()) => {
                self.packets = false;
                self.notice = Some(format!(
                    "the program writes to stderr faster than gcviz reads its writes one by \
                     one ({} in a row, the pipe seven-eighths full): reading it as bytes from \
                     now on, torn records rebuilt from the bytes alone",
                    self.run.0
                ));
            }
            Err(e) => {
                self.notice = Some(format!(
                    "the program writes to stderr faster than gcviz reads its writes one by \
                     one, and packets could not be turned off ({e}): it may wait for gcviz"
                ))
            }
        }
    }
}

impl Source for Stderr {
    fn take_notice(&mut self) -> Option<String> {
        self.notice.take()
    }

    /// In packet mode, drains every write waiting in the pipe (up to what
    /// `buf` holds), one read(2) each, before it returns: the pipe's slots
    /// are freed as fast as they fill.
    fn read_chunk(&mut self, buf: &mut [u8], packets: &mut Vec<u32>) -> io::Result<usize> {
        if std::mem::take(&mut self.nap) {
            thread::sleep(NAP);
        }
        let mut filled = 0;
        loop {
            // A packet read into less room than a page loses the rest.
            if self.packets && buf.len() - filled < rustix::pipe::PIPE_BUF {
                return Ok(filled);
            }
            match (&self.pipe).read(&mut buf[filled..]) {
                Ok(0) => return Ok(filled),
                Ok(n) if self.packets => {
                    filled += n;
                    packets.push(n as u32);
                    if self.filling(n) {
                        self.stop_packets();
                        return Ok(filled);
                    }
                }
                Ok(n) => {
                    // Nothing more waiting, as well: a packet pipe turned to
                    // bytes still holds its packets, read one at a time.
                    self.nap = !self.exited
                        && n < SMALL_READ.min(buf.len())
                        && rustix::io::ioctl_fionread(&self.pipe).is_ok_and(|w| w == 0);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.run = (0, 0);
                    if filled > 0 {
                        return Ok(filled);
                    }
                    let timeout = (self.exited && !self.told).then_some(QUIET_BEFORE_TELLING);
                    match self.wait(timeout)? {
                        Ready::Pipe => {}
                        Ready::TimedOut => {
                            self.told = true;
                            eprintln!(
                                "gcviz: the program exited; its stderr is still open (a child \
                                 process?): waiting for it to close, Ctrl-C to stop"
                            );
                        }
                        Ready::Exited => {
                            self.exited = true;
                            // Only a Ctrl-C from now on stops the wait.
                            self.interrupts.clear();
                        }
                        Ready::Interrupted => return Ok(0),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if filled > 0 => {
                    // Reported at the next read.
                    let _ = e;
                    return Ok(filled);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A program's stderr as the reader sees it: the pipe's writer (held
    /// open, as by a grandchild, unless dropped), the exit's setter and a
    /// Ctrl-C.
    struct Pipe {
        writer: Option<OwnedFd>,
        exit: Option<io::PipeWriter>,
        interrupt: UnixStream,
    }

    fn stderr(packets: bool) -> (Stderr, Pipe) {
        let flags = if packets {
            PipeFlags::DIRECT | PipeFlags::CLOEXEC
        } else {
            PipeFlags::CLOEXEC
        };
        let (pipe, writer) = pipe::pipe_with(flags).unwrap();
        assert!(grow(&pipe), "the pipe is grown as the program's is");
        let (wake, wake_writer) = io::pipe().unwrap();
        let (rx, interrupt) = UnixStream::pair().unwrap();
        rx.set_nonblocking(true).unwrap();
        // A signal id that is never raised: the test sends on the socket.
        let id = signal_hook::low_level::pipe::register(SIGQUIT, interrupt.try_clone().unwrap())
            .unwrap();
        let interrupts = Interrupts { rx, id };
        // This process stands in for the program, the writer for its stderr.
        let switch = packets.then(|| Switch {
            alive: Alive(Arc::new(Mutex::new(Some(std::process::id())))),
            fd: writer.as_raw_fd(),
            inode: rustix::fs::fstat(&pipe).unwrap().st_ino,
        });
        let stderr =
            Stderr::new(PipeReader::from(pipe), packets, switch, wake, interrupts).unwrap();
        let p = Pipe {
            writer: Some(writer),
            exit: Some(wake_writer),
            interrupt,
        };
        (stderr, p)
    }

    impl Pipe {
        fn write(&self, b: &[u8]) {
            let n = rustix::io::write(self.writer.as_ref().unwrap(), b).unwrap();
            assert_eq!(n, b.len());
        }
        fn exit(&mut self) {
            drop(self.exit.take());
        }
        fn close(&mut self) {
            drop(self.writer.take());
        }
    }

    /// Every chunk to the end: bytes and packet lengths.
    fn read_all(r: &mut Stderr) -> (Vec<u8>, Vec<u32>) {
        let mut all = Vec::new();
        let mut lens = Vec::new();
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = r.read_chunk(&mut buf, &mut lens).unwrap();
            if n == 0 {
                return (all, lens);
            }
            all.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn end_of_file_ends_it_before_any_exit() {
        for packets in [false, true] {
            let (mut r, mut p) = stderr(packets);
            p.write(b"last words\n");
            p.close();
            assert_eq!(read_all(&mut r).0, b"last words\n");
        }
    }

    #[test]
    fn each_write_is_a_packet_of_its_own() {
        let (mut r, mut p) = stderr(true);
        for w in ["gc ", "7", " @", "first line\n", "\n"] {
            p.write(w.as_bytes());
        }
        p.write(&[b'x'; 5000]);
        p.close();
        let (all, lens) = read_all(&mut r);
        assert_eq!(all.len(), 3 + 1 + 2 + 11 + 1 + 5000);
        // A write longer than a page arrives in page-sized packets.
        assert_eq!(lens, [3, 1, 2, 11, 1, 4096, 904]);
    }

    #[test]
    fn a_program_filling_the_packet_pipe_is_read_as_bytes_from_then_on() {
        let (mut r, p) = stderr(true);
        // A pipe's worth of writes was just read in a row, and the program
        // filled every slot again meanwhile.
        r.run = (r.slots, r.slots * 8);
        let mut want = Vec::new();
        for i in 0..r.slots {
            let l = format!("line {i:03}\n");
            p.write(l.as_bytes());
            want.extend_from_slice(l.as_bytes());
        }
        let mut buf = vec![0; 1 << 16];
        let mut lens = Vec::new();
        let n = r.read_chunk(&mut buf, &mut lens).unwrap();
        // It stopped at the next look, with seven-eighths still waiting.
        assert_eq!(lens.len(), r.look_every);
        assert!(!r.packets && r.switch.is_none());
        let mut got = buf[..n].to_vec();
        // Writes from now on merge in the pipe.
        p.write(b"a");
        p.write(b"b\n");
        want.extend_from_slice(b"ab\n");
        let mut last = Vec::new();
        while got.len() < want.len() {
            lens.clear();
            let n = r.read_chunk(&mut buf, &mut lens).unwrap();
            assert!(lens.is_empty(), "bytes, not packets");
            got.extend_from_slice(&buf[..n]);
            last = buf[..n].to_vec();
        }
        assert_eq!(got, want);
        assert_eq!(last, b"ab\n", "two writes read as one");
    }

    #[test]
    fn a_few_packets_in_a_row_do_not_turn_packets_off() {
        // A burst gcviz keeps up with: a record's pieces and long lines
        // after them, all waiting at once.
        let (mut r, p) = stderr(true);
        for _ in 0..40 {
            p.write(b"gc ");
        }
        for _ in 0..4 {
            p.write(&[b'x'; 4000]);
        }
        let (mut buf, mut lens) = (vec![0; 1 << 16], Vec::new());
        r.read_chunk(&mut buf, &mut lens).unwrap();
        assert_eq!(lens.len(), 44);
        assert!(r.packets && r.switch.is_some());
    }

    #[test]
    fn what_is_still_in_the_pipe_after_the_exit_is_read() {
        let (mut r, mut p) = stderr(false);
        let lines: Vec<u8> = (0..3000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        p.write(&lines);
        p.exit();
        p.close();
        assert_eq!(read_all(&mut r).0, lines);
    }

    /// Reads to the end on another thread: a reader that never ends fails
    /// the test (after a generous wait) instead of hanging it.
    fn read_all_elsewhere(mut r: Stderr) -> std::sync::mpsc::Receiver<Vec<u8>> {
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || tx.send(read_all(&mut r).0));
        rx
    }

    const PATIENCE: Duration = Duration::from_secs(60);

    #[test]
    fn a_pipe_held_open_after_the_exit_is_read_until_it_closes() {
        let (r, mut p) = stderr(true);
        p.write(b"the program's last words\n");
        p.exit();
        let got = read_all_elsewhere(r);
        // A grandchild writes long after the program has gone.
        thread::sleep(Duration::from_millis(300));
        p.write(b"the grandchild's\n");
        p.close();
        let got = got.recv_timeout(PATIENCE).expect("the reader did not end");
        assert_eq!(got, b"the program's last words\nthe grandchild's\n");
    }

    #[test]
    fn a_ctrl_c_after_the_exit_stops_waiting_for_a_pipe_held_open() {
        let (r, mut p) = stderr(true);
        // A Ctrl-C before the exit was the program's to handle.
        (&p.interrupt).write_all(b"x").unwrap();
        p.write(b"written\n");
        p.exit();
        let got = read_all_elsewhere(r);
        thread::sleep(Duration::from_millis(300));
        assert!(got.try_recv().is_err(), "ended before the Ctrl-C");
        (&p.interrupt).write_all(b"x").unwrap();
        let got = got.recv_timeout(PATIENCE).expect("the reader did not end");
        assert_eq!(got, b"written\n");
        p.close();
    }

    #[test]
    fn terminal_interrupt_is_not_sent_twice() {
        assert_eq!(decide(SIGINT, true, 1), Action::Nothing);
        assert_eq!(decide(SIGINT, false, 1), Action::Forward(SIGINT));
    }

    #[test]
    fn second_interrupt_reaches_the_program() {
        assert_eq!(decide(SIGINT, true, 2), Action::Nothing);
        assert_eq!(decide(SIGINT, false, 2), Action::Forward(SIGINT));
    }

    #[test]
    fn third_interrupt_kills_whatever_its_origin() {
        assert_eq!(decide(SIGINT, true, 3), Action::Kill);
        assert_eq!(decide(SIGINT, false, 4), Action::Kill);
    }

    #[test]
    fn other_signals_are_forwarded_unless_the_terminal_sent_them() {
        for s in [SIGTERM, SIGHUP, SIGQUIT] {
            assert_eq!(decide(s, false, 0), Action::Forward(s));
            assert_eq!(decide(s, true, 5), Action::Nothing);
        }
    }
}
