//! Linux: the Landlock ruleset (built in lode with the `landlock` crate) and the supervisor
//! forked between lode and the command.
//!
//! Everything after `fork` runs in a copy of a multi-threaded process, so the code in
//! `pre_exec` and in the supervisor calls only async-signal-safe system calls on stack data:
//! no allocation, no locks, no formatting. That is also why the ruleset is applied with the
//! raw `landlock_restrict_self` call on a descriptor the crate prepared before the fork.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetError, Scope, ABI,
};

use super::{Confinement, Enforcement, SandboxMode};

/// The file-system rights lode handles: read, write and truncate (Landlock ABI 3); newer
/// rights (device ioctls) are left alone so terminals and GPUs keep working.
const FS_ABI: ABI = ABI::V3;

/// Character devices every program may write.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// What this kernel supports, probed once.
pub(super) fn support() -> Enforcement {
    static SUPPORT: OnceLock<Enforcement> = OnceLock::new();
    SUPPORT
        .get_or_init(|| {
            let probe =
                |ruleset: Result<Ruleset, RulesetError>| ruleset.and_then(Ruleset::create).is_ok();
            let hard = || Ruleset::default().set_compatibility(CompatLevel::HardRequirement);
            Enforcement {
                files: probe(hard().handle_access(AccessFs::from_all(ABI::V1))),
                network: probe(hard().handle_access(AccessNet::from_all(ABI::V4))),
            }
        })
        .clone()
}

/// The ruleset for `c`, or `None` where the kernel enforces none of it.
fn ruleset(c: &Confinement) -> Result<Option<OwnedFd>, RulesetError> {
    let files = c.mode != SandboxMode::Off;
    if !files && c.network {
        return Ok(None);
    }
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::BestEffort);
    if files {
        ruleset = ruleset.handle_access(AccessFs::from_all(FS_ABI))?;
    }
    if !c.network {
        ruleset = ruleset.handle_access(AccessNet::from_all(ABI::V4))?;
    }
    // Signals only reach processes inside the sandbox: a command cannot stop its supervisor.
    ruleset = ruleset.scope(Scope::Signal)?;
    let mut created = ruleset.create()?;
    if files {
        created = created
            .add_rules(path_beneath_rules(["/"], AccessFs::from_read(FS_ABI)))?
            .add_rules(path_beneath_rules(
                c.writable_roots(),
                AccessFs::from_all(FS_ABI),
            ))?
            .add_rules(path_beneath_rules(DEVICES, AccessFs::from_all(FS_ABI)))?;
    }
    Ok(created.into())
}

/// Makes `cmd` start under the supervisor, restricted by `c`'s ruleset.
pub(super) fn apply(c: &Confinement, cmd: &mut tokio::process::Command) -> std::io::Result<()> {
    let fd = ruleset(c).map_err(|e| std::io::Error::other(format!("sandbox: {e}")))?;
    let lode = std::process::id();
    // The supervisor leads a new process group (lode's fallback kill); the command leads its
    // own, which the supervisor kills first.
    cmd.process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (see `start`).
    unsafe {
        cmd.pre_exec(move || start(lode, fd.as_ref().map(AsRawFd::as_raw_fd)));
    }
    Ok(())
}

/// In the forked child: become the supervisor and fork the command, which returns here (and
/// goes on to exec) after restricting itself.
fn start(lode: u32, ruleset: Option<i32>) -> std::io::Result<()> {
    let signals = supervised_signals();
    // SAFETY: plain system calls on stack data (prctl, sigprocmask, fork, getppid).
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        // lode gone (even by SIGKILL): the supervisor hears SIGTERM and cleans up.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0);
        if libc::getppid() as u32 != lode {
            libc::_exit(1);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut());
        match libc::fork() {
            -1 => Err(std::io::Error::last_os_error()),
            0 => {
                libc::sigprocmask(libc::SIG_UNBLOCK, &signals, std::ptr::null_mut());
                libc::setpgid(0, 0);
                // The supervisor gone (it cannot be, short of SIGKILL): so is the command.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                if let Some(fd) = ruleset {
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                        || libc::syscall(libc::SYS_landlock_restrict_self, fd, 0) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            }
            command => supervise(command, &signals),
        }
    }
}

fn supervised_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGCHLD] {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// The supervisor's life: wait for the command (or a signal from lode), then kill every
/// process left and exit the way the command did.
///
/// # Safety
/// Called only in the forked supervisor, with `signals` blocked.
unsafe fn supervise(command: libc::pid_t, signals: &libc::sigset_t) -> ! {
    // SAFETY: system calls only; see the module comment.
    unsafe {
        // Hold nothing of lode's open: its pipes must close when the command's do.
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            for fd in 0..1024 {
                libc::close(fd);
            }
        }
        let wait = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        loop {
            let mut status = 0;
            loop {
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid == command {
                    kill_descendants(command);
                    exit_like(status);
                }
                if pid <= 0 {
                    break;
                }
            }
            let signal = libc::sigtimedwait(signals, std::ptr::null_mut(), &wait);
            if signal > 0 && signal != libc::SIGCHLD {
                kill_descendants(command);
                // Die of the signal lode sent, as an unsupervised command would.
                exit_like(signal);
            }
        }
    }
}

/// Kills every descendant: the command's process group, then every child of the supervisor
/// (orphans are re-parented here, the subreaper) until none is left.
///
/// # Safety
/// Supervisor only.
unsafe fn kill_descendants(group: libc::pid_t) {
    // SAFETY: system calls on stack buffers.
    unsafe {
        libc::killpg(group, libc::SIGKILL);
        let mut buf = [0u8; 4096];
        // Bounded: each round reaps at least one process or finds none left.
        for _ in 0..100_000 {
            let fd = libc::open(
                c"/proc/thread-self/children".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            if fd >= 0 {
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                libc::close(fd);
                let mut pid: libc::pid_t = 0;
                for &byte in buf.iter().take(usize::try_from(n).unwrap_or(0)) {
                    if byte.is_ascii_digit() {
                        pid = pid * 10 + libc::pid_t::from(byte - b'0');
                    } else {
                        if pid > 1 {
                            libc::kill(pid, libc::SIGKILL);
                        }
                        pid = 0;
                    }
                }
                if pid > 1 {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            let mut status = 0;
            if libc::waitpid(-1, &mut status, 0) < 0 {
                break;
            }
        }
    }
}

/// Ends the supervisor with the command's exit status, or by the command's signal (a raw
/// status whose low bits are a signal number reads as death by that signal).
///
/// # Safety
/// Supervisor only.
unsafe fn exit_like(status: libc::c_int) -> ! {
    // SAFETY: system calls only.
    unsafe {
        if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            libc::signal(signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), signal);
            libc::_exit(128 + signal);
        }
        libc::_exit(libc::WEXITSTATUS(status));
    }
}
