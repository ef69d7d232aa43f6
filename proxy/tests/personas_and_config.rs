//! Behaviour 1 and configuration: the personas file, its errors, and settings named on failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use ashley_proxy::{Cli, Config, personas::Personas};
use clap::{CommandFactory as _, Parser as _};
use common::Harness;

#[test]
fn help_documents_every_setting() {
    let help = Cli::command().render_long_help().to_string();
    for name in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_MODEL",
        "HF_TOKEN",
        "PORT",
        "ASHLEY_DATA_DIR",
        "ASHLEY_WEB_DIR",
        "ASHLEY_RATE_LIMIT",
        "ASHLEY_PERSONAS",
        "ASHLEY_TRUSTED_PROXIES",
        "ASHLEY_SESSION_TTL_HOURS",
        "ASHLEY_MODERATION",
        "ASHLEY_MODERATION_FAILURE",
        "ASHLEY_MAX_UPSTREAM_CONCURRENCY",
        "ASHLEY_UPSTREAM_TIMEOUT_SECS",
        "ASHLEY_UPSTREAM_RETRIES",
        "ASHLEY_LOG_FILE",
        "ASHLEY_SHUTDOWN_GRACE_SECS",
    ] {
        assert!(
            help.contains(&format!("env: {name}")),
            "{name} missing from --help"
        );
    }
    assert!(help.contains("[default: gpt-4]"));
    assert!(help.contains("[default: 7860]"));
    assert!(help.contains("[default: 60]"));
}

#[test]
fn an_operator_personas_file_replaces_the_builtin_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("personas.toml");
    std::fs::write(
        &path,
        "[[persona]]\nid = \"pirate\"\nname = \"Pirate\"\ndescription = \"Arr\"\nsystem_prompt = \"Talk like a pirate.\"\ntemperature = 1.0\nmax_tokens = 100\n",
    )
    .unwrap();
    let cli = Cli::try_parse_from(["ashley-proxy", "--personas", path.to_str().unwrap()]).unwrap();
    let config = Config::from_cli(cli).unwrap();
    assert_eq!(config.personas.default_id(), "pirate");
    assert!(config.personas.get("ashley").is_none());
}

#[test]
fn an_invalid_personas_file_stops_startup_with_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("personas.toml");
    let broken =
        ashley_proxy::personas::BUILTIN_TOML.replace("max_tokens = 3000", "max_tokens = -3");
    std::fs::write(&path, &broken).unwrap();
    let cli = Cli::try_parse_from(["ashley-proxy", "--personas", path.to_str().unwrap()]).unwrap();
    let err = Config::from_cli(cli).unwrap_err();
    assert_eq!(err.setting, "ASHLEY_PERSONAS");
    let line = broken
        .lines()
        .position(|l| l.contains("max_tokens = -3"))
        .unwrap()
        + 1;
    assert!(err.to_string().contains(&format!("line {line}: ")), "{err}");
    assert!(err.to_string().contains("max_tokens"), "{err}");
    assert!(
        Personas::parse("[[persona]]\nid = \"x\"\n", "f")
            .unwrap_err()
            .to_string()
            .contains("line")
    );
}

#[test]
fn bad_settings_name_the_setting() {
    for (args, setting) in [
        (
            vec!["--openai-base-url", "localhost:11434"],
            "OPENAI_BASE_URL",
        ),
        (vec!["--openai-model", " "], "OPENAI_MODEL"),
        (
            vec!["--max-upstream-concurrency", "0"],
            "ASHLEY_MAX_UPSTREAM_CONCURRENCY",
        ),
        (vec!["--session-ttl-hours", "0"], "ASHLEY_SESSION_TTL_HOURS"),
    ] {
        let mut all = vec!["ashley-proxy"];
        all.extend(args);
        let err = Config::from_cli(Cli::try_parse_from(all).unwrap()).unwrap_err();
        assert_eq!(err.setting, setting);
        assert!(err.to_string().contains(setting));
    }
    let err = Cli::try_parse_from(["ashley-proxy", "--rate-limit", "lots"]).unwrap_err();
    assert!(err.to_string().contains("--rate-limit"));
}

#[tokio::test]
async fn an_unwritable_data_dir_stops_startup_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let config = Config {
        data_dir: file.join("sub"),
        ..Config::default()
    };
    let err = ashley_proxy::AppState::new(config).err().unwrap();
    assert!(err.to_string().contains("ASHLEY_DATA_DIR"), "{err}");
}

#[tokio::test]
async fn the_app_sees_the_configured_personas() {
    let personas = Personas::parse(
        "default = \"b\"\n[[persona]]\nid = \"a\"\nname = \"A\"\ndescription = \"d\"\nsystem_prompt = \"p\"\ntemperature = 0.1\nmax_tokens = 5\n[[persona]]\nid = \"b\"\nname = \"B\"\ndescription = \"d\"\nsystem_prompt = \"q\"\ntemperature = 0.2\nmax_tokens = 6\n",
        "test",
    )
    .unwrap();
    let harness = Harness::live_with(|config| Config { personas, ..config }).await;
    let list: ashley_proxy::api::PersonaList =
        harness.get("/api/personas").await.json().await.unwrap();
    assert_eq!(list.default, "b");
    assert_eq!(list.personas.len(), 2);
}
