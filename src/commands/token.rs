//! `newsletter token`: prints the unsubscribe token or opaque id of an address, or checks a
//! token or a whole unsubscribe URL (for a team that runs its own endpoint, or answers a reader
//! by hand).

use std::io::Write;

use crate::{
    cli::TokenArguments,
    commands::load::unsubscribe_key,
    commands::style,
    compose::unsubscribe::{KeyUse, verify_request},
    error::{Error, ExitCode},
    input::list::{List, ListId, UrlPattern},
};

/// `newsletter token`: prints the token of an address, or checks one.
pub(crate) fn run(arguments: &TokenArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let list = arguments.list.as_deref().map(List::load).transpose()?;
    // clap's `which_list` group already refuses both; this match does not quietly pick one
    // should that group ever change.
    let list_id = match (&list, &arguments.list_id) {
        (Some(_), Some(_)) => {
            return Err(Error::TokenArguments {
                reason: "give --list FILE or --list-id ID, not both".into(),
            });
        }
        (Some(list), None) => list.file.id.as_str().to_owned(),
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
    let text = if let (Some(url), Some(list)) = (&arguments.verify_url, &list) {
        let template = &list.file.unsubscribe.url;
        let invalid = || Error::TokenUrlInvalid {
            list_id: list_id.clone(),
        };
        let pattern = UrlPattern::of(template).map_err(|reason| Error::ServeUrl {
            list: list.path.clone(),
            reason,
        })?;
        let parsed = url::Url::parse(url.trim()).map_err(|_| invalid())?;
        let values = pattern
            .values(parsed.path(), parsed.query())
            .ok_or_else(invalid)?;
        let address = verify_request(&key, &list_id, template, &values).ok_or_else(invalid)?;
        format!("valid: the URL unsubscribes {address} from {list_id}\n")
    } else {
        let email = arguments.email.as_deref().unwrap_or_default().trim();
        match &arguments.verify {
            None if arguments.id => format!("{}\n", key.id(&list_id, email)),
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
        }
    };
    style::print(out, text)?;
    Ok(ExitCode::Success)
}
