//! The words of the unsubscribe pages, in the list's language: a table of translations
//! chosen by the primary subtag of the list's `language` (`fr-CA` → French), English when
//! there is none, with the list file's own wording (`unsubscribe.page`) over either.
//!
//! A text is split at its `{placeholders}` into [`Part`]s that the template escapes one by
//! one, so neither a translation nor a list file can put markup on the page.

use crate::input::{
    page_text::{PageText, PageWording},
    values::Language,
};

/// The wording of the pages in one language, in the order of [`PageText::ALL`].
#[derive(Debug)]
pub(crate) struct Translation {
    /// The primary language subtag it answers to.
    pub(crate) tag: &'static str,
    /// The language's name in English, for messages.
    pub(crate) name: &'static str,
    texts: [&'static str; PageText::ALL.len()],
}

/// The languages the pages speak, English first.
pub(crate) const TRANSLATIONS: [Translation; 10] = [
    Translation {
        tag: "en",
        name: "English",
        texts: [
            "Unsubscribe",
            "Do you want {address} to stop receiving {list}?",
            "Unsubscribe",
            "Nothing changes until you press the button.",
            "You are unsubscribed",
            "{address} will not receive {list} again.",
            "It can take a few minutes for a send already under way to skip you.",
            "This link does not work",
            "Sorry, this unsubscribe link is not valid. It may have been cut short or changed on its way to you.",
            "Write to {mailto} and we will take you off the list.",
            "Reply to any issue and we will take you off the list.",
            "Please try again",
            "Sorry, your request could not be recorded just now. Please try again in a minute.",
            "Or write to {mailto}.",
            "Too many requests",
            "Sorry, we received too many requests from your network. Please wait a minute and try again.",
        ],
    },
    Translation {
        tag: "fr",
        name: "French",
        texts: [
            "Se désabonner",
            "Voulez-vous que {address} ne reçoive plus {list}\u{a0}?",
            "Se désabonner",
            "Rien ne change tant que vous n’appuyez pas sur le bouton.",
            "Votre désabonnement est confirmé",
            "{address} ne recevra plus {list}.",
            "Un envoi déjà en cours peut mettre quelques minutes à tenir compte de votre demande.",
            "Ce lien ne fonctionne pas",
            "Désolé, ce lien de désabonnement n’est pas valide. Il a pu être tronqué ou modifié en chemin.",
            "Écrivez à {mailto} et nous vous retirerons de la liste.",
            "Répondez à n’importe quel numéro et nous vous retirerons de la liste.",
            "Veuillez réessayer",
            "Désolé, votre demande n’a pas pu être enregistrée pour le moment. Veuillez réessayer dans une minute.",
            "Vous pouvez aussi écrire à {mailto}.",
            "Trop de demandes",
            "Désolé, nous avons reçu trop de demandes depuis votre réseau. Veuillez patienter une minute, puis réessayer.",
        ],
    },
    Translation {
        tag: "de",
        name: "German",
        texts: [
            "Abmelden",
            "Möchten Sie {list} unter {address} nicht mehr erhalten?",
            "Abmelden",
            "Es ändert sich nichts, bis Sie auf die Schaltfläche klicken.",
            "Sie sind abgemeldet",
            "{address} erhält {list} nicht mehr.",
            "Bei einem bereits laufenden Versand kann es einige Minuten dauern, bis Ihre Abmeldung berücksichtigt wird.",
            "Dieser Link funktioniert nicht",
            "Leider ist dieser Abmeldelink ungültig. Möglicherweise wurde er unterwegs gekürzt oder verändert.",
            "Schreiben Sie an {mailto}, dann tragen wir Sie aus der Liste aus.",
            "Antworten Sie auf eine beliebige Ausgabe, dann tragen wir Sie aus der Liste aus.",
            "Bitte versuchen Sie es erneut",
            "Leider konnte Ihre Anfrage gerade nicht gespeichert werden. Bitte versuchen Sie es in einer Minute erneut.",
            "Oder schreiben Sie an {mailto}.",
            "Zu viele Anfragen",
            "Leider kamen aus Ihrem Netzwerk zu viele Anfragen. Bitte warten Sie eine Minute und versuchen Sie es dann erneut.",
        ],
    },
    Translation {
        tag: "es",
        name: "Spanish",
        texts: [
            "Cancelar la suscripción",
            "¿Quiere que {address} deje de recibir {list}?",
            "Cancelar suscripción",
            "No cambiará nada hasta que pulse el botón.",
            "Se ha cancelado su suscripción",
            "{address} ya no recibirá {list}.",
            "Un envío que ya esté en curso puede tardar unos minutos en tener en cuenta su baja.",
            "Este enlace no funciona",
            "Lo sentimos, este enlace para darse de baja no es válido. Puede que se haya cortado o modificado por el camino.",
            "Escriba a {mailto} y le daremos de baja de la lista.",
            "Responda a cualquier número del boletín y le daremos de baja de la lista.",
            "Inténtelo de nuevo",
            "Lo sentimos, no hemos podido registrar su solicitud en este momento. Inténtelo de nuevo dentro de un minuto.",
            "O escriba a {mailto}.",
            "Demasiadas solicitudes",
            "Lo sentimos, hemos recibido demasiadas solicitudes desde su red. Espere un minuto e inténtelo de nuevo.",
        ],
    },
    Translation {
        tag: "it",
        name: "Italian",
        texts: [
            "Annulla l’iscrizione",
            "Vuole che {address} non riceva più {list}?",
            "Annulla l’iscrizione",
            "Non cambierà nulla finché non premerà il pulsante.",
            "Iscrizione annullata",
            "{address} non riceverà più {list}.",
            "Se un invio è già in corso, potrebbero volerci alcuni minuti perché la sua richiesta venga applicata.",
            "Questo link non funziona",
            "Ci dispiace, questo link per annullare l’iscrizione non è valido. Potrebbe essere stato troncato o modificato lungo il percorso.",
            "Scriva a {mailto} e la rimuoveremo dalla lista.",
            "Risponda a un qualsiasi numero e la rimuoveremo dalla lista.",
            "Per favore, riprovi",
            "Ci dispiace, al momento non è stato possibile registrare la sua richiesta. Riprovi tra un minuto.",
            "Oppure scriva a {mailto}.",
            "Troppe richieste",
            "Ci dispiace, abbiamo ricevuto troppe richieste dalla sua rete. Attenda un minuto e riprovi.",
        ],
    },
    Translation {
        tag: "nl",
        name: "Dutch",
        texts: [
            "Afmelden",
            "Wilt u {list} niet meer ontvangen op {address}?",
            "Afmelden",
            "Er verandert niets totdat u op de knop drukt.",
            "U bent afgemeld",
            "{address} ontvangt {list} niet meer.",
            "Als er al een verzending bezig is, kan het een paar minuten duren voordat uw afmelding wordt verwerkt.",
            "Deze link werkt niet",
            "Sorry, deze afmeldlink is niet geldig. Misschien is hij onderweg ingekort of gewijzigd.",
            "Stuur een e-mail naar {mailto}, dan halen we u van de lijst.",
            "Beantwoord een willekeurige editie, dan halen we u van de lijst.",
            "Probeer het opnieuw",
            "Sorry, uw verzoek kon nu niet worden vastgelegd. Probeer het over een minuut opnieuw.",
            "Of stuur een e-mail naar {mailto}.",
            "Te veel verzoeken",
            "Sorry, we kregen te veel verzoeken vanaf uw netwerk. Wacht een minuut en probeer het dan opnieuw.",
        ],
    },
    Translation {
        tag: "pt",
        name: "Portuguese",
        texts: [
            "Cancelar a inscrição",
            "Deseja que {address} deixe de receber {list}?",
            "Cancelar inscrição",
            "Nada muda até clicar no botão.",
            "A sua inscrição foi cancelada",
            "{address} deixará de receber {list}.",
            "Se um envio já estiver em curso, pode demorar alguns minutos até que o seu pedido seja tido em conta.",
            "Este link não funciona",
            "Lamentamos, mas este link de cancelamento não é válido. Pode ter sido cortado ou alterado pelo caminho.",
            "Escreva para {mailto} e retiraremos o seu endereço da lista.",
            "Responda a qualquer edição e retiraremos o seu endereço da lista.",
            "Tente novamente",
            "Lamentamos, mas não foi possível processar o seu pedido neste momento. Tente novamente dentro de um minuto.",
            "Ou escreva para {mailto}.",
            "Pedidos em excesso",
            "Lamentamos, mas recebemos pedidos em excesso a partir da sua rede. Aguarde um minuto e tente novamente.",
        ],
    },
    Translation {
        tag: "zh",
        name: "Chinese (Simplified)",
        texts: [
            "退订",
            "您是否希望 {address} 不再接收 {list}？",
            "退订",
            "在您点击按钮之前，不会有任何更改。",
            "您已成功退订",
            "{address} 将不会再收到 {list}。",
            "如有正在进行的发送，可能需要几分钟才会停止向您发送。",
            "此链接无效",
            "抱歉，此退订链接无效。它可能在传递过程中被截断或更改。",
            "请发送邮件至 {mailto}，我们会将您从列表中移除。",
            "请回复任意一期邮件，我们会将您从列表中移除。",
            "请重试",
            "抱歉，暂时无法记录您的请求。请一分钟后重试。",
            "您也可以发送邮件至 {mailto}。",
            "请求过多",
            "抱歉，来自您网络的请求过多。请等待一分钟后重试。",
        ],
    },
    Translation {
        tag: "cy",
        name: "Welsh",
        texts: [
            "Dad-danysgrifio",
            "Ydych chi am i {address} beidio â derbyn {list} mwyach?",
            "Dad-danysgrifio",
            "Ni fydd dim yn newid nes i chi bwyso’r botwm.",
            "Rydych wedi dad-danysgrifio",
            "Ni fydd {address} yn derbyn {list} eto.",
            "Gall gymryd ychydig funudau i anfoniad sydd eisoes ar y gweill eich hepgor.",
            "Nid yw’r ddolen hon yn gweithio",
            "Mae’n ddrwg gennym, nid yw’r ddolen dad-danysgrifio hon yn ddilys. Efallai iddi gael ei thorri’n fyr neu ei newid ar y ffordd atoch.",
            "Ysgrifennwch at {mailto} a byddwn yn eich tynnu oddi ar y rhestr.",
            "Atebwch unrhyw rifyn a byddwn yn eich tynnu oddi ar y rhestr.",
            "Rhowch gynnig arall arni",
            "Mae’n ddrwg gennym, nid oedd modd cofnodi eich cais ar hyn o bryd. Rhowch gynnig arall arni mewn munud.",
            "Neu ysgrifennwch at {mailto}.",
            "Gormod o geisiadau",
            "Mae’n ddrwg gennym, daeth gormod o geisiadau o’ch rhwydwaith. Arhoswch funud a rhowch gynnig arall arni.",
        ],
    },
    Translation {
        tag: "ms",
        name: "Malay",
        texts: [
            "Berhenti melanggan",
            "Adakah anda mahu {address} berhenti menerima {list}?",
            "Berhenti melanggan",
            "Tiada apa-apa yang berubah sehingga anda menekan butang ini.",
            "Anda telah berhenti melanggan",
            "{address} tidak akan menerima {list} lagi.",
            "Jika penghantaran sedang berjalan, mungkin perlu beberapa minit sebelum anda dikecualikan.",
            "Pautan ini tidak berfungsi",
            "Maaf, pautan berhenti melanggan ini tidak sah. Pautan ini mungkin terpotong atau diubah semasa sampai kepada anda.",
            "Hantar e-mel kepada {mailto} dan kami akan mengeluarkan anda daripada senarai.",
            "Balas mana-mana keluaran dan kami akan mengeluarkan anda daripada senarai.",
            "Sila cuba lagi",
            "Maaf, permintaan anda tidak dapat direkodkan buat masa ini. Sila cuba lagi dalam seminit.",
            "Atau hantar e-mel kepada {mailto}.",
            "Terlalu banyak permintaan",
            "Maaf, kami menerima terlalu banyak permintaan daripada rangkaian anda. Sila tunggu seminit dan cuba lagi.",
        ],
    },
];

/// How the pages will speak a list's language.
#[derive(Debug)]
pub(crate) enum Match {
    /// A translation answers to the language.
    Translated(&'static Translation),
    /// None does; the pages are in English, and this says why.
    Fallback(String),
}

/// The translation for `language`, or why there is none.
pub(crate) fn translation(language: &Language) -> Match {
    let primary = language.primary();
    // The table's Chinese is Simplified; readers of Traditional Chinese get English rather
    // than a script they did not ask for.
    if primary == "zh"
        && language
            .subtags()
            .any(|subtag| matches!(subtag.as_str(), "hant" | "tw" | "hk" | "mo"))
    {
        return Match::Fallback(format!(
            "the unsubscribe pages have Chinese in Simplified characters only (`zh`, `zh-Hans`); for `{}` they will be in English",
            language.as_str()
        ));
    }
    match TRANSLATIONS.iter().find(|t| t.tag == primary) {
        Some(translation) => Match::Translated(translation),
        None => Match::Fallback(format!(
            "the unsubscribe pages have no wording in `{}`; they will be in English (they speak {})",
            language.as_str(),
            languages()
        )),
    }
}

/// `en (English), fr (French), …`.
pub(crate) fn languages() -> String {
    TRANSLATIONS
        .iter()
        .map(|t| format!("{} ({})", t.tag, t.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pages' words for one list: a translation with the list's own wording over it.
#[derive(Debug)]
pub(crate) struct Wording {
    /// The `lang` of the pages: the list's language, or `en` when the words are English
    /// because there was no translation.
    pub(crate) lang: String,
    texts: Vec<String>,
}

impl Wording {
    pub(crate) fn new(language: &Language, own: &PageWording) -> Wording {
        let (translation, lang) = match translation(language) {
            Match::Translated(translation) => (translation, language.as_str().to_owned()),
            Match::Fallback(_) => (&TRANSLATIONS[0], "en".to_owned()),
        };
        let texts = PageText::ALL
            .iter()
            .map(|text| {
                own.get(*text)
                    .unwrap_or(translation.texts[text.index()])
                    .to_owned()
            })
            .collect();
        Wording { lang, texts }
    }

    /// `text` as it is, for texts without placeholders (titles, the button).
    pub(crate) fn get(&self, text: PageText) -> &str {
        &self.texts[text.index()]
    }

    /// `text` split at its placeholders, filled from `values`.
    pub(crate) fn fill(&self, text: PageText, values: &Values<'_>) -> Vec<Part> {
        let mut parts = Vec::new();
        let mut rest = self.get(text);
        while let Some(start) = rest.find('{') {
            let Some(length) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 1..start + length];
            let part = match name {
                "address" => Part::Strong(values.address.to_owned()),
                "list" => Part::Text(values.list.to_owned()),
                "mailto" => Part::Mailto(values.mailto.unwrap_or_default().to_owned()),
                // Checked when the list file was read and by the tests of the table.
                _ => Part::Text(rest[start..=start + length].to_owned()),
            };
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            parts.push(part);
            rest = &rest[start + length + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        parts
    }
}

/// What fills the placeholders of a text.
#[derive(Debug, Default)]
pub(crate) struct Values<'a> {
    pub(crate) address: &'a str,
    pub(crate) list: &'a str,
    pub(crate) mailto: Option<&'a str>,
}

/// A piece of a text, escaped by the template as it is shown.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Text(String),
    /// The subscriber's address, in bold.
    Strong(String),
    /// The list's mailto address, as a link.
    Mailto(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn language(tag: &str) -> Language {
        tag.parse().unwrap()
    }

    #[test]
    fn every_language_has_every_text_with_its_placeholders() {
        for translation in &TRANSLATIONS {
            for text in PageText::ALL {
                let wording = translation.texts[text.index()];
                assert!(
                    !wording.trim().is_empty() && wording.trim() == wording,
                    "{} {}: empty or padded",
                    translation.tag,
                    text.key()
                );
                if let Err(reason) = text.check(wording) {
                    panic!("{} {}: {reason}", translation.tag, text.key());
                }
                // Within the limits the list file's own wording obeys.
                assert!(
                    wording.parse::<crate::input::values::Line>().is_ok(),
                    "{} {}",
                    translation.tag,
                    text.key()
                );
            }
            assert_eq!(
                TRANSLATIONS
                    .iter()
                    .filter(|t| t.tag == translation.tag)
                    .count(),
                1
            );
        }
    }

    #[test]
    fn translations_are_not_english_left_in_place() {
        // A copied English sentence would pass the test above; the sentences (not the short
        // titles, where a loan word can be right) must differ from the English ones.
        for translation in TRANSLATIONS.iter().skip(1) {
            for text in [
                PageText::Confirm,
                PageText::ConfirmNote,
                PageText::Done,
                PageText::DoneNote,
                PageText::Invalid,
                PageText::Unavailable,
                PageText::Busy,
            ] {
                assert_ne!(
                    translation.texts[text.index()],
                    TRANSLATIONS[0].texts[text.index()],
                    "{} {}",
                    translation.tag,
                    text.key()
                );
            }
        }
    }

    #[test]
    fn the_primary_subtag_chooses_the_translation() {
        let tag = |tag: &str| match translation(&language(tag)) {
            Match::Translated(translation) => translation.tag,
            Match::Fallback(_) => "fallback",
        };
        assert_eq!(tag("fr-CA"), "fr");
        assert_eq!(tag("FR"), "fr");
        assert_eq!(tag("en-GB"), "en");
        assert_eq!(tag("cy"), "cy");
        assert_eq!(tag("ms-SG"), "ms");
        assert_eq!(tag("zh"), "zh");
        assert_eq!(tag("zh-Hans-SG"), "zh");
        assert_eq!(tag("zh-Hant"), "fallback");
        assert_eq!(tag("zh-TW"), "fallback");
        assert_eq!(tag("ta"), "fallback");
    }

    #[test]
    fn english_words_are_marked_english_and_the_list_wording_wins() {
        let fallback = Wording::new(&language("ta-SG"), &PageWording::default());
        assert_eq!(fallback.lang, "en");
        assert_eq!(fallback.get(PageText::Button), "Unsubscribe");
        let own: PageWording = serde_yaml::from_str("button: Quitter la liste\n").unwrap();
        let french = Wording::new(&language("fr-CA"), &own);
        assert_eq!(french.lang, "fr-CA");
        assert_eq!(french.get(PageText::Button), "Quitter la liste");
        assert_eq!(
            french.get(PageText::DoneTitle),
            "Votre désabonnement est confirmé"
        );
    }

    #[test]
    fn placeholders_become_parts_in_the_languages_order() {
        let german = Wording::new(&language("de"), &PageWording::default());
        let values = Values {
            address: "<a>@example.org",
            list: "Bulletin",
            mailto: None,
        };
        assert_eq!(
            german.fill(PageText::Confirm, &values),
            [
                Part::Text("Möchten Sie ".into()),
                Part::Text("Bulletin".into()),
                Part::Text(" unter ".into()),
                Part::Strong("<a>@example.org".into()),
                Part::Text(" nicht mehr erhalten?".into()),
            ]
        );
        let english = Wording::new(&language("en"), &PageWording::default());
        assert_eq!(
            english.fill(
                PageText::OrMailto,
                &Values {
                    mailto: Some("news@example.org"),
                    ..Values::default()
                }
            ),
            [
                Part::Text("Or write to ".into()),
                Part::Mailto("news@example.org".into()),
                Part::Text(".".into()),
            ]
        );
    }
}
