//! `newsletter token`: prints the unsubscribe token of an address, or checks one (for a team
//! that runs its own endpoint, or answers a reader by hand).

use std::io::Write;

use crate::{
    cli::TokenArguments,
    commands::load::unsubscribe_key,
    compose::unsubscribe::KeyUse,
    error::{Error, ExitCode},
    input::list::{List, ListId},
};

/// `newsletter token`: prints the token of an address, or checks one.
pub(crate) fn run(arguments: &TokenArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let list_id = match (&arguments.list, &arguments.list_id) {
        (Some(path), _) => List::load(path)?.file.id.as_str().to_owned(),
        (None, Some(id)) => id
            .parse::<ListId>()
            .map_err(|reason| Error::TokenArguments { reason })?
            .as_str()
            .to_owned(),
        (None, None) => {
            return Err(Error::TokenArguments {
                reason: "give --list FILE or --list-id ID".into(),
            });
        }
    };
    let key = unsubscribe_key(KeyUse::Send)?.ok_or(Error::UnsubscribeKeyUnset)?;
    let email = arguments.email.trim();
    let text = match &arguments.verify {
        None => format!("{}\n", key.token(&list_id, email)),
        Some(token) if key.verify(&list_id, email, token) => {
            format!("valid: the token belongs to {email} on {list_id}\n")
        }
        Some(_) => {
            return Err(Error::TokenInvalid {
                email: email.to_owned(),
                list_id,
            });
        }
    };
    out.write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            path: "standard output".into(),
            source,
        })?;
    Ok(ExitCode::Success)
}
