//! Every subcommand says what it does and every flag has a help line: `--help` is the manual a
//! user on a device has, so a flag without one is a bug this test finds.

use clap::CommandFactory;

/// `path --flag` for every visible argument without help, and `path` for every subcommand
/// without an about line, under `cmd`.
fn missing_help(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.is_hide_set() || matches!(id, "help" | "version") {
            continue;
        }
        if arg.get_help().is_none() && arg.get_long_help().is_none() {
            let name = arg
                .get_long()
                .map_or(id.to_uppercase(), |l| format!("--{l}"));
            missing.push(format!("{path} {name}"));
        }
    }
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let sub_path = format!("{path} {}", sub.get_name());
        if sub.get_about().is_none() && sub.get_long_about().is_none() {
            missing.push(sub_path.clone());
        }
        missing_help(sub, &sub_path, missing);
    }
}

#[test]
fn every_flag_of_every_subcommand_has_a_help_line() {
    let cli = super::Cli::command();
    let mut missing = Vec::new();
    missing_help(&cli, "edge-ssl", &mut missing);
    assert!(missing.is_empty(), "no help text: {}", missing.join(", "));
    // The walk reaches the nested subcommands and their flags.
    #[cfg(feature = "fleet")]
    assert!(
        cli.find_subcommand("fleet")
            .and_then(|f| f.find_subcommand("join"))
            .is_some()
    );
}

#[test]
fn the_walk_finds_a_flag_without_help() {
    let cmd = clap::Command::new("x").about("x").subcommand(
        clap::Command::new("y")
            .about("y")
            .arg(clap::Arg::new("seed").long("seed")),
    );
    let mut missing = Vec::new();
    missing_help(&cmd, "x", &mut missing);
    assert_eq!(missing, ["x y --seed"]);
}
