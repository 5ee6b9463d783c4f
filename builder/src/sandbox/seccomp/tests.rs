//! The profile's table, and its tree program checked against seccompiler's compilation of the
//! same rules by running both in a small BPF interpreter for every syscall number and the
//! argument values the filters look at.

use std::collections::BTreeMap;

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

use super::tree::{self, Instruction, RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS};
use super::*;

fn allowed(name: &str) -> bool {
    ALLOWED.iter().chain(ALLOWED_ARCH).any(|(n, _)| *n == name)
}

#[test]
fn the_profile_compiles_once_and_is_reused() {
    let first = docker_default().unwrap();
    let second = docker_default().unwrap();
    assert!(std::ptr::eq(first, second));
    assert!(!first.program().is_empty());
}

#[test]
fn what_moby_grants_only_to_cap_sys_admin_is_not_allowed() {
    for name in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "pivot_root",
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "init_module",
        "reboot",
        "swapon",
        "clock_settime",
        "open_by_handle_at",
        "kexec_load",
        "clone3",
        "clone",
        "socket",
        "personality",
        "syslog",
        "userfaultfd",
        "fsopen",
        "move_mount",
    ] {
        assert!(!allowed(name), "{name} must not be allowed unconditionally");
    }
}

#[test]
fn everyday_syscalls_are_allowed() {
    for name in [
        "read", "openat", "execve", "wait4", "chroot", "ptrace", "mknodat", "statx",
    ] {
        assert!(allowed(name), "{name} must be allowed");
    }
}

#[test]
fn the_clone_mask_is_mobys() {
    assert_eq!(CLONE_NAMESPACE_FLAGS, 0x7E02_0000);
}

#[test]
fn no_syscall_is_listed_twice() {
    let numbers: Vec<u32> = rules().iter().map(|(nr, _)| *nr).collect();
    let mut unique = numbers.clone();
    unique.dedup();
    assert_eq!(numbers, unique, "sorted and without duplicates");
}

/// `struct seccomp_data` for one call.
fn data(nr: u32, arch: u32, args: [u64; 6]) -> [u8; 64] {
    let mut bytes = [0u8; 64];
    bytes[0..4].copy_from_slice(&nr.to_le_bytes());
    bytes[4..8].copy_from_slice(&arch.to_le_bytes());
    for (n, arg) in args.iter().enumerate() {
        bytes[16 + 8 * n..24 + 8 * n].copy_from_slice(&arg.to_le_bytes());
    }
    bytes
}

/// Runs a classic BPF program (the subset seccomp filters use); returns the action and how
/// many instructions ran.
fn run(program: &[Instruction], input: &[u8; 64]) -> (u32, usize) {
    let (mut a, mut pc, mut steps) = (0u32, 0usize, 0usize);
    loop {
        let i = program[pc];
        steps += 1;
        pc += 1;
        let k = i.k;
        match i.code {
            0x20 => {
                let at = k as usize;
                a = u32::from_le_bytes(input[at..at + 4].try_into().unwrap());
            }
            0x54 => a &= k,
            0x05 => pc += k as usize,
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match i.code {
                    0x15 => a == k,
                    0x25 => a > k,
                    0x35 => a >= k,
                    _ => a & k != 0,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            0x06 => return (k, steps),
            code => panic!("instruction {code:#x} not understood by the test interpreter"),
        }
    }
}

/// The action the kernel takes when several filters answer: the highest precedence wins, and
/// among equals the most recently installed filter's (listed last here).
fn combined(actions: &[u32]) -> u32 {
    let rank = |action: u32| match action & 0xffff_0000 {
        RET_KILL_PROCESS => 0,
        0x0000_0000 => 1, // kill thread
        0x0003_0000 => 2, // trap
        RET_ERRNO => 3,
        _ => 4,
    };
    *actions
        .iter()
        .rev()
        .min_by_key(|action| rank(**action))
        .unwrap()
}

/// The same rules through seccompiler, as strata first compiled them: an allow list and a
/// `clone3` → `ENOSYS` program installed after it.
fn reference() -> Vec<Vec<Instruction>> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).unwrap();
    let low =
        |value: u32, op| SeccompCondition::new(0, SeccompCmpArgLen::Dword, op, u64::from(value));
    let mut allow: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut enosys: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (nr, rule) in rules() {
        let nr = i64::from(nr);
        match rule {
            Rule::Allow => {
                allow.insert(nr, Vec::new());
            }
            Rule::Errno(errno) => {
                assert_eq!(errno, libc::ENOSYS as u32, "only clone3 answers an errno");
                enosys.insert(nr, Vec::new());
            }
            Rule::Args { arg, check } => {
                assert_eq!(arg, 0);
                let conditions: Vec<Vec<SeccompCondition>> = match check {
                    Check::NotEqual(v) => vec![vec![low(v, SeccompCmpOp::Ne).unwrap()]],
                    Check::OneOf(vs) => vs
                        .iter()
                        .map(|v| vec![low(*v, SeccompCmpOp::Eq).unwrap()])
                        .collect(),
                    Check::NoBits(mask) => {
                        vec![vec![
                            low(0, SeccompCmpOp::MaskedEq(u64::from(mask))).unwrap()
                        ]]
                    }
                };
                allow.insert(
                    nr,
                    conditions
                        .into_iter()
                        .map(|c| SeccompRule::new(c).unwrap())
                        .collect(),
                );
            }
        }
    }
    let programs = [
        SeccompFilter::new(
            allow,
            SeccompAction::Errno(libc::EPERM as u32),
            SeccompAction::Allow,
            arch,
        ),
        SeccompFilter::new(
            enosys,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        ),
    ];
    programs
        .into_iter()
        .map(|filter| {
            let program: seccompiler::BpfProgram = filter.unwrap().try_into().unwrap();
            program
                .iter()
                .map(|i| Instruction {
                    code: i.code,
                    jt: i.jt,
                    jf: i.jf,
                    k: i.k,
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_tree_answers_every_syscall_as_seccompiler_does() {
    let ours = docker_default().unwrap().program();
    let reference = reference();
    let native = tree::native_arch().unwrap();
    let x32 = 0x4000_0000u32;
    let numbers = (0..600u32)
        .chain((0..600).map(|nr| nr | x32))
        .chain([u32::MAX]);
    let arg_values: [u64; 12] = [
        0,
        8,
        40,
        17,          // SIGCHLD: a plain fork through clone
        0x2_0011,    // CLONE_NEWNS | SIGCHLD
        0x1000_0011, // CLONE_NEWUSER | SIGCHLD
        0x2_0000,
        0x2_0008,
        0x4_0000, // ADDR_NO_RANDOMIZE
        0xffff_ffff,
        0x1_0000_0028, // high bits set, low word 40
        0xffff_ffff_0000_0000,
    ];
    let mut checked = 0;
    let mut longest = 0;
    for arch in [native, 0x4000_0003 /* i386 */] {
        for nr in numbers.clone() {
            for arg in arg_values {
                let input = data(nr, arch, [arg, 0, 0, 0, 0, 0]);
                let (action, steps) = run(ours, &input);
                let theirs: Vec<u32> = reference.iter().map(|p| run(p, &input).0).collect();
                assert_eq!(
                    action,
                    combined(&theirs),
                    "syscall {nr:#x} arch {arch:#x} arg0 {arg:#x}"
                );
                longest = longest.max(steps);
                checked += 1;
            }
        }
    }
    assert!(checked > 20_000);
    assert!(
        longest <= 40,
        "an answer takes at most {longest} instructions"
    );
}

#[test]
fn the_tree_is_small_and_says_what_the_issue_asked() {
    let program = docker_default().unwrap().program();
    assert!(program.len() < 900, "{} instructions", program.len());
    let native = tree::native_arch().unwrap();
    let call = |nr: i64, arg: u64| run(program, &data(nr as u32, native, [arg, 0, 0, 0, 0, 0])).0;
    let eperm = RET_ERRNO | libc::EPERM as u32;
    assert_eq!(call(libc::SYS_keyctl, 0), eperm);
    assert_eq!(call(libc::SYS_add_key, 0), eperm);
    assert_eq!(call(libc::SYS_unshare, 0), eperm);
    assert_eq!(call(libc::SYS_mount, 0), eperm);
    assert_eq!(call(libc::SYS_clone, 17), RET_ALLOW);
    assert_eq!(call(libc::SYS_clone, 0x2_0011), eperm);
    assert_eq!(call(libc::SYS_clone3, 0), RET_ERRNO | libc::ENOSYS as u32);
    assert_eq!(call(libc::SYS_socket, 40), eperm);
    assert_eq!(call(libc::SYS_socket, 2), RET_ALLOW);
    assert_eq!(call(libc::SYS_personality, 0x4_0000), eperm);
    assert_eq!(call(libc::SYS_personality, 0xffff_ffff), RET_ALLOW);
    assert_eq!(call(libc::SYS_read, 0), RET_ALLOW);
    // Another ABI's numbers mean other calls: killed, not guessed.
    assert_eq!(
        run(program, &data(0, 0x4000_0003, [0; 6])).0,
        RET_KILL_PROCESS
    );
}
