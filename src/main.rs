use tokio_util::sync::CancellationToken;

use quire::app::Application;
use quire::auth::bootstrap;
use quire::cli::{self, AdminCommand, Command};
use quire::state::AppState;
use quire::{db, telemetry};

/// mimalloc instead of glibc's allocator: a request allocates a few dozen small blocks
/// (headers, extensions, futures), and glibc's free-list consolidation and arena locking
/// showed up as a fifth of the user-space time of a health check (BENCHMARKS.md). It also
/// returns memory to the system more readily in a long-running multi-threaded process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // PDF text is extracted in a child copy of this binary, confined by time and memory
    // limits, so a hostile PDF can crash or hang only that child.
    if quire_ingest::is_pdf_extraction_child() {
        std::process::exit(quire_ingest::run_pdf_extraction_child());
    }
    // A .env file supplies defaults; the real environment always wins.
    let _ = dotenvy::dotenv();
    if let Some(client) = cli::parse_client() {
        std::process::exit(run_client(&client.data_dir, client.command.into_command()));
    }
    let cli = cli::parse();
    if let Command::Extract(args) = &cli.command {
        std::process::exit(quire::statements::cli::run(args));
    }
    let cli = match cli.command.into_client() {
        Ok(command) => std::process::exit(run_client(&cli.settings.data_dir, command)),
        Err(command) => cli::Cli { command, ..cli },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(async move {
        if let Err(e) = telemetry::init(&cli.settings) {
            eprintln!("error: cannot set up logging: {e}");
            return 1;
        }
        match run(cli).await {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "quire stopped with an error");
                eprintln!("error: {e:#}");
                1
            }
        }
    });
    exit_now(code);
}

/// Ends the process once its own work is done. `std::process::exit` runs the C library's
/// exit: stdio flushes and `atexit` handlers of every library linked in, while the
/// runtime's other threads (database connections and the PostgreSQL `LISTEN` task,
/// upkeep threads, a blocking task that never returned) keep running beside it. An
/// instance on PostgreSQL once logged `stopped` and then stayed alive until SIGKILL
/// (issue 20, defect 16): after `stopped` nothing may keep the process, so our output is
/// flushed (bounded: a pipe nobody reads must not hold it either) and `_exit` ends it.
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let (flushed, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let _ = flushed.send(());
    });
    let _ = done.recv_timeout(std::time::Duration::from_secs(2));
    // SAFETY: `_exit` takes no pointers and does not return; skipping destructors and
    // `atexit` handlers is its purpose here, and everything that must be durable (the
    // database, stored files) was committed or closed before.
    unsafe { libc::_exit(code) }
}

/// A client subcommand: no logging set up (its output is for people and scripts), a
/// small runtime, and the exit code it chose.
fn run_client(data_dir: &std::path::Path, command: quire::client::ClientCommand) -> i32 {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(quire::client::run(data_dir, command)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            2
        }
    }
}

async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Settings { format } => {
            print!("{}", cli::settings_reference(format));
            Ok(())
        }
        Command::Migrate => {
            let settings = cli.settings;
            let db = db::Db::connect(
                &settings.database_url(),
                db::PoolSize::from_settings(&settings),
            )
            .await?;
            let before = db.applied_migrations().await.unwrap_or_default().len();
            db.migrate().await?;
            let after = db.applied_migrations().await?.len();
            println!(
                "migrations: {} applied now, {} in total",
                after.saturating_sub(before),
                after
            );
            db.close().await;
            Ok(())
        }
        Command::Serve => {
            let data_dir = cli.settings.data_dir.clone();
            let db_url = cli.settings.database_url();
            let app = Application::build(cli.settings).await?;
            let addr = app.local_addr()?;
            let stop = shutdown_signal();
            // Before the banner, so whoever watches for the banner has seen the key.
            bootstrap::first_start(&app.state.db, &app.state.settings, addr).await?;
            println!(
                "Quire {} is listening on http://{addr}",
                env!("CARGO_PKG_VERSION")
            );
            println!("  API docs:  http://{addr}/docs  (ReDoc: http://{addr}/redoc)");
            println!("  data:      {}", data_dir.display());
            println!("  database:  {db_url:?}");
            tracing::info!(address = %addr, "listening");
            let state = app.state.clone();
            app.run(stop).await?;
            state.shutdown.cancel();
            state.db.close().await;
            tracing::info!("stopped");
            Ok(())
        }
        Command::Client(_) => anyhow::bail!("client subcommands run before the server's setup"),
        Command::Admin { command } => run_admin(cli.settings, command).await,
        Command::Extract(args) => {
            anyhow::bail!(
                "extract ran before the server's setup ({})",
                args.file.display()
            )
        }
        #[cfg(feature = "bench")]
        Command::Bench(cli::BenchTarget::Jobs(args)) => {
            quire::bench::jobs::run(&cli.settings, args).await
        }
        #[cfg(feature = "bench")]
        Command::Bench(cli::BenchTarget::Questions(args)) => {
            quire::bench::questions::run(&cli.settings, args).await
        }
        #[cfg(feature = "bench")]
        Command::Bench(cli::BenchTarget::Summaries(args)) => {
            quire::bench::summaries::run(&cli.settings, args).await
        }
        #[cfg(feature = "bench")]
        Command::Bench(cli::BenchTarget::Cache(args)) => {
            quire::bench::cache::run(&cli.settings, args).await
        }
        Command::Worker => {
            let state = AppState::initialise(cli.settings).await?;
            let stop = shutdown_signal();
            let workers = quire::app::start_workers(&state).await?;
            tracing::info!("worker started");
            println!(
                "Quire {} worker is running {} jobs at a time",
                env!("CARGO_PKG_VERSION"),
                state.settings.max_concurrent_jobs
            );
            stop.cancelled().await;
            tracing::info!("shutting down: finishing running jobs");
            state.shutdown.cancel();
            workers.join().await;
            state.db.close().await;
            Ok(())
        }
    }
}

async fn run_admin(settings: quire::config::Settings, command: AdminCommand) -> anyhow::Result<()> {
    let db = db::Db::connect(
        &settings.database_url(),
        db::PoolSize::from_settings(&settings),
    )
    .await?;
    db.migrate().await?;
    let outcome = match command {
        AdminCommand::CreateUser {
            email,
            role,
            org,
            display_name,
            password_stdin,
            superuser,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            bootstrap::admin_create_user(
                &db,
                &settings,
                bootstrap::AdminNewUser {
                    org,
                    email: email.clone(),
                    display_name,
                    role,
                    password,
                    superuser,
                },
            )
            .await
            .map(|(user_id, org)| {
                println!(
                    "created user {user_id} ({email}, {role}) in organisation \"{}\" ({})",
                    org.name, org.id
                );
            })
        }
        AdminCommand::SetPassword { email } => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let password = line.trim_end_matches(['\r', '\n']).to_owned();
            bootstrap::admin_set_password(&db, &settings, &email, password)
                .await
                .map(|user| println!("set the password of {} ({})", user.email, user.id))
        }
        AdminCommand::CreateApiKey { org, name, role } => bootstrap::admin_create_api_key(
            &db,
            org.as_deref(),
            &name,
            role,
        )
        .await
        .map(|(key, org)| {
            println!(
                "created {role} API key \"{name}\" in organisation \"{}\" ({}); shown once:",
                org.name, org.id
            );
            println!("{key}");
        }),
    };
    db.close().await;
    outcome
}

/// A token cancelled on SIGINT or SIGTERM.
fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        cancel.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        cancel.cancel();
    });
    token
}
