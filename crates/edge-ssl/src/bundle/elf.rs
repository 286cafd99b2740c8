//! Which machine an executable is for, read from its ELF header, so a bundle never ships an
//! x86-64 binary to a Raspberry Pi. Only the identification bytes, `e_machine` and (for 32-bit
//! ARM) the float ABI in `e_flags` are read; nothing else of the file is trusted or parsed.

use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::error::Context;

const MAGIC: &[u8; 4] = b"\x7fELF";
const EM_ARM: u16 = 40;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
/// `e_flags` bit of 32-bit ARM binaries built for the hard-float ABI (armhf).
const EF_ARM_ABI_FLOAT_HARD: u32 = 0x400;
/// Bytes of a 32-bit ELF header up to and including `e_flags`.
const HEADER_LEN: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfArch {
    X86_64,
    Aarch64,
    /// 32-bit ARM, hard-float ABI (Raspberry Pi OS 32-bit).
    ArmHardFloat,
    /// 32-bit ARM, soft-float ABI (armel): does not run on armhf systems' libraries.
    ArmSoftFloat,
    Other {
        bits: u8,
        machine: u16,
    },
}

impl fmt::Display for ElfArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfArch::X86_64 => f.write_str("x86_64"),
            ElfArch::Aarch64 => f.write_str("aarch64"),
            ElfArch::ArmHardFloat => f.write_str("armv7 (hard-float)"),
            ElfArch::ArmSoftFloat => f.write_str("32-bit ARM soft-float (armel)"),
            ElfArch::Other { bits, machine } => write!(f, "{bits}-bit e_machine {machine}"),
        }
    }
}

/// The architecture in an ELF header, or `None` when `header` does not start like an ELF file.
pub fn arch_of(header: &[u8]) -> Option<ElfArch> {
    if header.len() < 20 || &header[..4] != MAGIC {
        return None;
    }
    let bits = match header[4] {
        1 => 32,
        2 => 64,
        _ => return None,
    };
    let little = match header[5] {
        1 => true,
        2 => false,
        _ => return None,
    };
    let u16_at = |i: usize| {
        let b = [header[i], header[i + 1]];
        if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let machine = u16_at(18);
    Some(match (bits, machine) {
        (64, EM_X86_64) => ElfArch::X86_64,
        (64, EM_AARCH64) => ElfArch::Aarch64,
        (32, EM_ARM) if header.len() >= HEADER_LEN => {
            let b = [header[36], header[37], header[38], header[39]];
            let flags = if little {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            };
            if flags & EF_ARM_ABI_FLOAT_HARD != 0 {
                ElfArch::ArmHardFloat
            } else {
                ElfArch::ArmSoftFloat
            }
        }
        _ => ElfArch::Other { bits, machine },
    })
}

/// The first bytes of `path`, enough for [`arch_of`].
pub fn read_header(path: &Path) -> crate::Result<Vec<u8>> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    std::fs::File::open(path)
        .and_then(|f| f.take(HEADER_LEN as u64).read_to_end(&mut header))
        .map_err(|e| crate::Error::io(path, e))
        .context("reading an executable's header")?;
    Ok(header)
}

/// The architecture of the executable at `path` (`None`: not an ELF file).
pub fn file_arch(path: &Path) -> crate::Result<Option<ElfArch>> {
    Ok(arch_of(&read_header(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bits: u8, machine: u16, flags: u32) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_LEN];
        h[..4].copy_from_slice(MAGIC);
        h[4] = if bits == 64 { 2 } else { 1 };
        h[5] = 1;
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[36..40].copy_from_slice(&flags.to_le_bytes());
        h
    }

    #[test]
    fn reads_the_three_targets_and_the_arm_float_abi() {
        assert_eq!(arch_of(&header(64, 62, 0)), Some(ElfArch::X86_64));
        assert_eq!(arch_of(&header(64, 183, 0)), Some(ElfArch::Aarch64));
        assert_eq!(
            arch_of(&header(32, 40, 0x0500_0400)),
            Some(ElfArch::ArmHardFloat)
        );
        assert_eq!(
            arch_of(&header(32, 40, 0x0500_0200)),
            Some(ElfArch::ArmSoftFloat)
        );
        assert_eq!(
            arch_of(&header(32, 3, 0)),
            Some(ElfArch::Other {
                bits: 32,
                machine: 3
            })
        );
    }

    #[test]
    fn non_elf_bytes_are_none() {
        assert_eq!(arch_of(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(arch_of(b"\x7fELF"), None);
    }

    #[test]
    fn the_running_test_binary_is_recognised() {
        let exe = std::env::current_exe().unwrap();
        let arch = file_arch(&exe).unwrap().unwrap();
        if cfg!(target_arch = "x86_64") {
            assert_eq!(arch, ElfArch::X86_64);
        }
    }
}
