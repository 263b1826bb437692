use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory as _, FromArgMatches as _};
use keymint::cli::{Cli, Command};
use keymint::core::clock::SystemClock;
use keymint::startup::Application;
use keymint::telemetry::LogFormat;
use keymint::{commands, telemetry};

/// The process allocator (see Cargo.toml: mimalloc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (matches, cli)));
    let cli = match parsed {
        Ok((matches, cli)) => {
            if let Err(line) = keymint::cli::refuse_secrets_on_the_command_line(&matches) {
                eprintln!("{line}");
                return ExitCode::from(2);
            }
            cli
        }
        Err(err) if !err.use_stderr() => err.exit(), // --help, --version
        Err(err) => {
            // One clear line, as for every other error.
            let text = err.to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve(mut args) => {
            telemetry::init("info", args.log_format);
            match cli.master_key.load() {
                Ok(keys) => {
                    args.master_keys = keys;
                    serve(*args, &cli.database_url).await
                }
                Err(err) => Err(err),
            }
        }
        Command::Accounts(command) => {
            telemetry::init("warn", LogFormat::Text);
            commands::accounts(&cli.database_url, command, &mut std::io::stdout()).await
        }
        Command::Keys(command) => {
            telemetry::init("warn", LogFormat::Text);
            commands::keys(&cli.database_url, command, &mut std::io::stdout()).await
        }
        Command::Audit(args) => {
            telemetry::init("warn", LogFormat::Text);
            commands::audit(&cli.database_url, args, &mut std::io::stdout()).await
        }
        Command::Dialects(args) => commands::dialects(&args, &mut std::io::stdout()),
        Command::SigningKeys(command) => {
            telemetry::init("warn", LogFormat::Text);
            match cli.master_key.load() {
                Ok(keys) => {
                    commands::signing_keys(&cli.database_url, keys, command, &mut std::io::stdout())
                        .await
                }
                Err(err) => Err(err),
            }
        }
        Command::MasterKey(command) => {
            telemetry::init("warn", LogFormat::Text);
            commands::master_key(
                &cli.database_url,
                &cli.master_key,
                command,
                &mut std::io::stdout(),
            )
            .await
        }
        Command::AdminKeys(command) => {
            telemetry::init("warn", LogFormat::Text);
            commands::admin_keys(&cli.database_url, command, &mut std::io::stdout()).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<commands::UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn serve(args: keymint::cli::ServeArgs, database_url: &str) -> anyhow::Result<()> {
    let open_files = keymint::startup::raise_open_files_limit();
    tracing::info!(open_files, "open-files limit");
    let app = Application::build(args, database_url, Arc::new(SystemClock)).await?;
    app.run_until_stopped().await?;
    Ok(())
}
