//! Compiles the profile's rules into a classic-BPF seccomp program that finds a syscall's rule
//! by binary search, so that any answer is a handful of comparisons away (see the module docs
//! of `seccomp` for why).
//!
//! Layout: check the architecture (anything else is killed: its syscall numbers mean other
//! calls), load the syscall number, then a tree. An inner node is
//! `jge mid ? right : left` written as `jge mid, 0, 1; ja +len(left); <left>; <right>` — only
//! `ja` carries a long offset, so subtrees of any size fit the 8-bit conditional offsets. A
//! leaf compares up to [`LEAF`] numbers one by one, each followed by its own short rule block,
//! and ends in `EPERM`. Every path ends in a `ret`.

/// One BPF instruction, as the kernel reads it.
pub type Instruction = libc::sock_filter;

/// A compiled program.
pub type Program = Vec<Instruction>;

use super::{Check, Rule};

/// Most syscalls a leaf compares one by one.
const LEAF: usize = 8;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JGE_K: u16 = 0x35;
const BPF_JMP_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;

/// `SECCOMP_RET_*` actions.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// Allow the syscall.
pub const RET_ALLOW: u32 = 0x7fff_0000;
/// Fail the syscall with the errno in the low 16 bits.
pub const RET_ERRNO: u32 = 0x0005_0000;

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
/// The low 32 bits of argument `n` (little endian: the low word comes first).
const fn arg_low(n: u8) -> u32 {
    16 + 8 * n as u32
}

/// `AUDIT_ARCH_*` of this machine, if the profile knows it.
pub fn native_arch() -> Option<u32> {
    match std::env::consts::ARCH {
        "x86_64" => Some(0xC000_003E),
        "aarch64" => Some(0xC000_00B7),
        _ => None,
    }
}

fn stmt(code: u16, k: u32) -> Instruction {
    Instruction {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Instruction {
    Instruction { code, jt, jf, k }
}

fn ret(action: u32) -> Instruction {
    stmt(BPF_RET_K, action)
}

/// The program for `rules` (sorted by number, no duplicates) on this machine's architecture.
pub fn compile(rules: &[(u32, Rule)]) -> Option<Program> {
    let arch = native_arch()?;
    let mut program = vec![
        stmt(BPF_LD_W_ABS, ARCH),
        jump(BPF_JMP_JEQ_K, arch, 1, 0),
        ret(RET_KILL_PROCESS),
        stmt(BPF_LD_W_ABS, NR),
    ];
    program.extend(subtree(rules));
    Some(program)
}

fn subtree(rules: &[(u32, Rule)]) -> Program {
    if rules.len() <= LEAF {
        return leaf(rules);
    }
    let mid = rules.len() / 2;
    let left = subtree(&rules[..mid]);
    let right = subtree(&rules[mid..]);
    let mut code = Vec::with_capacity(left.len() + right.len() + 2);
    code.push(jump(BPF_JMP_JGE_K, rules[mid].0, 0, 1));
    code.push(stmt(BPF_JMP_JA, left.len() as u32));
    code.extend(left);
    code.extend(right);
    code
}

fn leaf(rules: &[(u32, Rule)]) -> Program {
    let mut code = Vec::new();
    for (nr, rule) in rules {
        let block = rule_block(*rule);
        code.push(jump(BPF_JMP_JEQ_K, *nr, 0, block.len() as u8));
        code.extend(block);
    }
    code.push(ret(RET_ERRNO | libc::EPERM as u32));
    code
}

/// What runs once the syscall number matched; always ends in `ret`.
fn rule_block(rule: Rule) -> Program {
    let eperm = ret(RET_ERRNO | libc::EPERM as u32);
    match rule {
        Rule::Allow => vec![ret(RET_ALLOW)],
        Rule::Errno(errno) => vec![ret(RET_ERRNO | (errno & 0xffff))],
        Rule::Args { arg, check } => {
            let mut code = vec![stmt(BPF_LD_W_ABS, arg_low(arg))];
            match check {
                Check::NotEqual(value) => {
                    code.push(jump(BPF_JMP_JEQ_K, value, 0, 1));
                    code.push(eperm);
                    code.push(ret(RET_ALLOW));
                }
                Check::OneOf(values) => {
                    for value in values {
                        code.push(jump(BPF_JMP_JEQ_K, *value, 0, 1));
                        code.push(ret(RET_ALLOW));
                    }
                    code.push(eperm);
                }
                Check::NoBits(mask) => {
                    code.push(jump(BPF_JMP_JSET_K, mask, 0, 1));
                    code.push(eperm);
                    code.push(ret(RET_ALLOW));
                }
            }
            code
        }
    }
}
