//! The `quire` binary as an operator meets it: configuration errors and migrations.

use std::process::Command;

fn quire() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quire"));
    // A developer's own environment must not leak into these checks.
    for var in [
        "DATABASE_URL",
        "PORT",
        "MAX_FILE_SIZE",
        "SECRET_KEY",
        "STORAGE_TYPE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn assert_one_line_config_error(env: (&str, &str), must_mention: &str) {
    let dir = tempfile::tempdir().unwrap();
    let output = quire()
        .arg("migrate")
        .env("QUIRE_DATA_DIR", dir.path())
        .env(env.0, env.1)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{env:?} must fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(
        lines[0].contains(must_mention),
        "{:?} should name {must_mention}",
        lines[0]
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn a_mysql_database_url_is_refused_with_one_line_naming_the_variable() {
    assert_one_line_config_error(("DATABASE_URL", "mysql://x"), "DATABASE_URL");
    assert_one_line_config_error(("DATABASE_URL", "mysql://x"), "sqlite:// or postgres://");
}

#[test]
fn a_non_numeric_port_is_refused_with_one_line_naming_the_variable() {
    assert_one_line_config_error(("PORT", "abc"), "PORT");
}

#[test]
fn a_negative_max_file_size_is_refused_with_one_line_naming_the_variable() {
    assert_one_line_config_error(("MAX_FILE_SIZE", "-1"), "MAX_FILE_SIZE");
}

#[test]
fn postgres_without_a_secret_key_is_refused() {
    assert_one_line_config_error(
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ),
        "SECRET_KEY",
    );
}

#[test]
fn help_lists_every_setting_with_its_environment_variable() {
    for args in [vec!["--help"], vec!["serve", "--help"]] {
        let output = quire()
            .args(&args)
            .env(
                "SECRET_KEY",
                "s3cr3t-value-that-is-long-enough-for-validation",
            )
            .output()
            .unwrap();
        assert!(output.status.success());
        let raw = String::from_utf8_lossy(&output.stdout);
        assert!(
            !raw.contains("s3cr3t-value"),
            "help must not print secret values"
        );
        let help = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        for var in [
            "DATABASE_URL",
            "REDIS_URL",
            "ANYTHINGLLM_URL",
            "ANYTHINGLLM_API_KEY",
            "ANYTHINGLLM_TIMEOUT",
            "STORAGE_TYPE",
            "STORAGE_PATH",
            "S3_BUCKET",
            "MAX_FILE_SIZE",
            "ALLOWED_FILE_TYPES",
            "SECRET_KEY",
            "JWT_ALGORITHM",
            "JWT_EXPIRE_MINUTES",
            "API_KEY_HEADER",
            "RATE_LIMIT_ENABLED",
            "RATE_LIMIT_REQUESTS",
            "RATE_LIMIT_WINDOW",
            "LOG_LEVEL",
            "LOG_FORMAT",
            "LOG_SANITIZE_SENSITIVE",
            "JOB_CLEANUP_DAYS",
            "MAX_CONCURRENT_JOBS",
            "HOST",
            "PORT",
            "ALLOWED_ORIGINS",
            "QUIRE_DATA_DIR",
        ] {
            assert!(
                help.contains(&format!("env: {var}")),
                "{args:?} help lacks {var}"
            );
        }
    }
}

#[test]
fn migrate_twice_applies_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = quire()
            .arg("migrate")
            .env("QUIRE_DATA_DIR", dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run();
    // ": 0" rather than "0": "10 applied now" holds "0 applied now" too.
    assert!(!first.contains(": 0 applied now"), "{first}");
    let second = run();
    assert!(second.contains(": 0 applied now"), "{second}");
    assert!(dir.path().join("quire.db").exists());
}

#[test]
fn readme_and_env_example_list_exactly_the_settings_the_binary_has() {
    let generate = |format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_quire"))
            .env_clear()
            .args(["settings", "--format", format])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let root = env!("CARGO_MANIFEST_DIR");
    let env_example = std::fs::read_to_string(format!("{root}/.env.example")).unwrap();
    assert_eq!(
        env_example,
        generate("env-example"),
        ".env.example is stale: run scripts/update-settings-docs.sh"
    );
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    assert!(
        readme.contains(generate("markdown").trim()),
        "README settings table is stale: run scripts/update-settings-docs.sh"
    );
}

#[test]
fn a_missing_pdftotext_stops_the_worker_but_not_a_migration() {
    let dir = tempfile::tempdir().unwrap();
    // A PATH with nothing on it: no pdftotext to find.
    let empty_path = tempfile::tempdir().unwrap();
    let run = |command: &str| {
        let mut child = quire()
            .arg(command)
            .env("QUIRE_DATA_DIR", dir.path())
            .env("PDF_TEXT_ENGINE", "pdftotext")
            .env("PATH", empty_path.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A worker that does not refuse would run forever: give it ten seconds.
        for _ in 0..100 {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
                    .unwrap();
                return (status, stderr);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        child.kill().unwrap();
        panic!("`quire {command}` did not exit");
    };

    let (status, stderr) = run("migrate");
    assert!(
        status.success(),
        "migrate must not need pdftotext: {stderr}"
    );

    let (status, stderr) = run("worker");
    assert!(!status.success());
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(lines[0].contains("PDF_TEXT_ENGINE"), "{}", lines[0]);
}

#[test]
fn a_client_subcommands_help_shows_only_client_options() {
    let output = quire().args(["ask", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("--threshold") && help.contains("--url"),
        "{help}"
    );
    for server_setting in ["DATABASE_URL", "MAX_FILE_SIZE", "--port", "ANYTHINGLLM"] {
        assert!(
            !help.contains(server_setting),
            "{server_setting} in: {help}"
        );
    }
    assert!(
        help.lines().count() < 60,
        "{} lines: {help}",
        help.lines().count()
    );
}

#[test]
fn a_client_subcommand_ignores_a_server_setting_it_does_not_use() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: the command gets as far as trying to connect.
    let output = quire()
        .args([
            "workspace",
            "list",
            "--url",
            "http://127.0.0.1:9",
            "--api-key",
            "k",
        ])
        .env("QUIRE_DATA_DIR", dir.path())
        .env("PORT", "abc")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("configuration error"), "{stderr}");
    assert!(!stderr.contains("PORT"), "{stderr}");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
}

#[test]
fn an_out_of_range_threshold_is_an_invalid_argument_not_a_configuration_error() {
    let output = quire()
        .args(["ask", "-w", "ws", "-q", "set.json", "--threshold", "1.5"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("configuration error"), "{stderr}");
    assert!(stderr.contains("invalid value '1.5'"), "{stderr}");
    assert!(stderr.contains("--threshold"), "{stderr}");
    // `compare` has no threshold: said as such.
    let output = quire()
        .args(["compare", "a", "b", "--threshold", "1.5"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("configuration error"), "{stderr}");
    assert!(
        stderr.contains("unexpected argument '--threshold'"),
        "{stderr}"
    );
}
