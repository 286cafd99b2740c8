//! The devices a bundle can be made for, and what each one needs: the Rust target triple, the
//! ELF architecture its binary must have, and the cargo command that builds that binary (the
//! size-optimized `dist` profile of the workspace's Cargo.toml).

use std::fmt;
use std::path::PathBuf;

use super::elf::ElfArch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Raspberry Pi OS 64-bit, Jetson (JetPack).
    Aarch64,
    /// Raspberry Pi OS 32-bit (armhf).
    Armv7,
    /// x86-64 Linux boxes.
    X86_64,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::Aarch64, Target::Armv7, Target::X86_64];

    /// The target called `name` ([`Target::name`]: `aarch64`, `armv7`, `x86_64`).
    pub fn from_name(name: &str) -> Option<Target> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::Aarch64 => "aarch64",
            Target::Armv7 => "armv7",
            Target::X86_64 => "x86_64",
        }
    }

    pub fn triple(self) -> &'static str {
        match self {
            Target::Aarch64 => "aarch64-unknown-linux-gnu",
            Target::Armv7 => "armv7-unknown-linux-gnueabihf",
            Target::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// The architecture an `edge-ssl` binary for this target has.
    pub fn arch(self) -> ElfArch {
        match self {
            Target::Aarch64 => ElfArch::Aarch64,
            Target::Armv7 => ElfArch::ArmHardFloat,
            Target::X86_64 => ElfArch::X86_64,
        }
    }

    /// Where `cargo build --profile PROFILE --target <triple>` puts the binary, under
    /// `$CARGO_TARGET_DIR` (default `target/` of the current directory).
    fn built_binary(self, profile: &str) -> PathBuf {
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target"));
        dir.join(self.triple()).join(profile).join("edge-ssl")
    }

    /// The device build ([`Self::build_command`]: the `dist` profile, LTO, stripped), the binary a
    /// bundle is meant to ship.
    pub fn dist_binary(self) -> PathBuf {
        self.built_binary("dist")
    }

    /// The release build (`cargo build --release --target <triple>`): debug info, about ten
    /// times the size of [`Self::dist_binary`]; shipped only when there is no dist build.
    pub fn release_binary(self) -> PathBuf {
        self.built_binary("release")
    }

    /// The one command that builds [`Self::dist_binary`] from the source tree. The cross
    /// linkers are configured in `.cargo/config.toml`; `.ci/cross.sh` installs them.
    pub fn build_command(self) -> String {
        format!(
            "cargo build --profile dist --target {} -p edge-ssl-cli --bin edge-ssl",
            self.triple()
        )
    }

    /// Debian packages providing the linker the build needs, when it is a cross build.
    pub fn linker_packages(self) -> Option<&'static str> {
        match self {
            Target::Aarch64 => Some("gcc-aarch64-linux-gnu libc6-dev-arm64-cross"),
            Target::Armv7 => Some("gcc-arm-linux-gnueabihf libc6-dev-armhf-cross"),
            Target::X86_64 => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for t in Target::ALL {
            assert_eq!(Target::from_name(t.name()), Some(t));
        }
        assert_eq!(Target::from_name("riscv64"), None);
        assert!(
            Target::Armv7
                .dist_binary()
                .ends_with("armv7-unknown-linux-gnueabihf/dist/edge-ssl")
        );
    }
}
