//! `rescind receiver …`: register and remove Shared Signals receivers.

use clap::Subcommand;
use serde_json::json;

use super::{CliError, print_json};
use crate::config::Settings;
use crate::domain::clock::{Clock as _, SystemClock};
use crate::domain::shared_signals::{Receiver, ReceiverId};
use crate::server;
use crate::shared_signals::SsfError;
use crate::shared_signals::receivers::{add_receiver, push_origins as checked_origins};

#[derive(Debug, Subcommand)]
pub enum ReceiverCommand {
    /// Register a receiver; its bearer credential is printed once.
    Add {
        /// 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'.
        #[arg(long)]
        id: String,
        /// The `aud` of the events sent to it; its id when absent.
        #[arg(long)]
        audience: Option<String>,
        /// An origin (`https://host[:port]`) its stream may push to; give
        /// it once per origin. Without one it can only poll.
        #[arg(long = "push-origin")]
        push_origins: Vec<String>,
    },
    /// Replace the origins a receiver's stream may push to (none: poll only).
    PushOrigins {
        #[arg(long)]
        id: String,
        #[arg(long = "push-origin")]
        push_origins: Vec<String>,
    },
    /// List the receivers (never their credentials).
    List,
    /// Remove a receiver, its stream and its queued events.
    Remove {
        #[arg(long)]
        id: String,
    },
}

fn view(receiver: &Receiver) -> serde_json::Value {
    json!({
        "id": receiver.id.as_str(),
        "audience": receiver.audience,
        "push_origins": receiver.push_origins,
        "created_at": receiver.created_at,
    })
}

fn parse_id(raw: &str) -> Result<ReceiverId, CliError> {
    ReceiverId::parse(raw).ok_or_else(|| {
        CliError::Usage(format!(
            "invalid receiver id {raw:?}: 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'"
        ))
    })
}

fn failed(error: SsfError) -> CliError {
    match error {
        SsfError::Store(error) => CliError::Store(error),
        SsfError::Conflict => CliError::Usage("the receiver id is taken".to_owned()),
        other => CliError::Usage(other.to_string()),
    }
}

pub async fn run(command: ReceiverCommand, settings: &Settings) -> Result<(), CliError> {
    let store = server::open_store(settings).await?;
    match command {
        ReceiverCommand::Add {
            id,
            audience,
            push_origins,
        } => {
            let id = parse_id(&id)?;
            let (receiver, credential) = add_receiver(
                store.as_ref(),
                id,
                audience,
                &push_origins,
                SystemClock.now(),
            )
            .await
            .map_err(failed)?;
            let mut shown = view(&receiver);
            shown["credential"] = json!(credential.expose());
            print_json(&shown)
        }
        ReceiverCommand::List => {
            let receivers = store.receivers().await?;
            print_json(&json!({"items": receivers.iter().map(view).collect::<Vec<_>>()}))
        }
        ReceiverCommand::PushOrigins { id, push_origins } => {
            let id = parse_id(&id)?;
            let origins = checked_origins(&push_origins).map_err(failed)?;
            if store.set_push_origins(&id, &origins).await? {
                print_json(&json!({"id": id.as_str(), "push_origins": origins}))
            } else {
                Err(CliError::Usage(format!("no receiver {:?}", id.as_str())))
            }
        }
        ReceiverCommand::Remove { id } => {
            let id = parse_id(&id)?;
            if store.remove_receiver(&id).await? {
                print_json(&json!({"removed": id.as_str()}))
            } else {
                Err(CliError::Usage(format!("no receiver {:?}", id.as_str())))
            }
        }
    }
}
