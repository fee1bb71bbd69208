//! The visitor's language: the widget's words (a table in [`chatpay_shared::texts`] order)
//! and the Checkout return pages' words, in every shipped language. Only the relay holds
//! the translations; a visitor's widget gets its own language's table in `Welcome`, merged
//! with the site owner's overrides, and a return page picks its language from the browser's
//! `Accept-Language`.

use chatpay_shared::texts::{language_of, COUNT, EN};

/// The widget's words in `lang` (a shipped language), in table order.
pub fn widget(lang: &str) -> &'static [&'static str; COUNT] {
    match lang {
        "de" => &DE,
        "fr" => &FR,
        "es" => &ES,
        "pt" => &PT,
        "it" => &IT,
        "nl" => &NL,
        "ja" => &JA,
        _ => &EN,
    }
}

/// What a visitor's widget is sent for `lang`: the language's words with the owner's
/// overrides (`overrides[lang][key]`) on top; empty for English with no overrides (the
/// widget has those words already).
pub fn for_visitor(lang: &str, overrides: &Overrides) -> Vec<String> {
    let lang = language_of(lang).unwrap_or("en");
    let own = overrides.get(lang);
    if lang == "en" && own.is_none_or(|o| o.is_empty()) {
        return Vec::new();
    }
    let base = widget(lang);
    chatpay_shared::texts::KEYS
        .iter()
        .zip(base.iter())
        .map(|(key, text)| {
            own.and_then(|o| o.get(*key))
                .filter(|t| !t.trim().is_empty())
                .map_or_else(|| (*text).to_owned(), Clone::clone)
        })
        .collect()
}

/// A site owner's words for the widget, per language and key.
pub type Overrides = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

/// The longest override, in characters.
pub const OVERRIDE_MAX_CHARS: usize = 200;

/// A site's stored overrides (unreadable or none: no overrides).
pub fn overrides_of(stored: Option<&str>) -> Overrides {
    stored
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// Checks overrides an owner sent: shipped languages and known keys only, plain text of at
/// most [`OVERRIDE_MAX_CHARS`]; empty ones are dropped. Every mistake is said at once.
pub fn checked_overrides(given: Overrides) -> crate::error::AppResult<Overrides> {
    use chatpay_shared::texts::{index_of, LANGUAGES};
    let mut bad = crate::error::FormErrors::default();
    let mut out = Overrides::new();
    for (lang, words) in given {
        if !LANGUAGES.contains(&lang.as_str()) {
            bad.add(
                "texts",
                format!(
                    "'{}' is not one of the widget's languages ({})",
                    crate::error::cut(&lang),
                    LANGUAGES.join(", ")
                ),
            );
            continue;
        }
        for (key, text) in words {
            let text = crate::chat::plain_text(&text).trim().to_owned();
            if index_of(&key).is_none() {
                bad.add(
                    "texts",
                    format!("'{}' is not one of the widget's words", crate::error::cut(&key)),
                );
            } else if text.chars().count() > OVERRIDE_MAX_CHARS {
                bad.add(
                    "texts",
                    format!("the {lang} text for '{key}' is longer than {OVERRIDE_MAX_CHARS} characters"),
                );
            } else if !text.is_empty() {
                out.entry(lang.clone()).or_default().insert(key, text);
            }
        }
    }
    bad.finish()?;
    Ok(out)
}

/// The first shipped language an `Accept-Language` header asks for (by its q-values), else
/// English.
pub fn from_accept_language(header: Option<&str>) -> &'static str {
    let Some(header) = header else { return "en" };
    let mut asked: Vec<(f32, &str)> = header
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let tag = it.next()?.trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, tag))
        })
        .collect();
    asked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    asked
        .into_iter()
        .filter(|(q, _)| *q > 0.0)
        .find_map(|(_, tag)| language_of(tag))
        .unwrap_or("en")
}

/// A word of the Checkout return pages.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    CloseTab,
    AlmostTitle,
    AlmostText,
    PaidTitle,
    PaidText,
    ProcessingTitle,
    ProcessingText,
    CheckingTitle,
    CheckingText,
    NotCompletedTitle,
    NotCompletedText,
    NothingCancelledTitle,
    NothingCancelledText,
    CancellingTitle,
    CancellingText,
    AlreadyPaidTitle,
    AlreadyPaidText,
    BeingConfirmedTitle,
    BeingConfirmedText,
    CheckingCancelText,
    CancelledTitle,
    CancelledText,
    UnknownTitle,
    UnknownLink,
    StripeUnreachable,
    OurSide,
    /// The pay page's form did not start (Stripe.js blocked or failing).
    PayFormFailed,
}

const PAGE_COUNT: usize = 27;

/// A return page's word in `lang`.
pub fn page(lang: &str, word: Page) -> &'static str {
    let table: &[&str; PAGE_COUNT] = match lang {
        "de" => &PAGE_DE,
        "fr" => &PAGE_FR,
        "es" => &PAGE_ES,
        "pt" => &PAGE_PT,
        "it" => &PAGE_IT,
        "nl" => &PAGE_NL,
        "ja" => &PAGE_JA,
        _ => &PAGE_EN,
    };
    table[word as usize]
}

const DE: [&str; COUNT] = [
    "Nachricht schreiben…",
    "Senden",
    "Nachricht",
    "Chat schließen",
    "Chat öffnen",
    "ungelesene Nachrichten",
    "Chat",
    "Verbinden…",
    "Verbindung unterbrochen. Neuer Versuch…",
    "Der Bot schreibt",
    "Support",
    "Dieses Gespräch ist beendet.",
    "Neuen Chat beginnen",
    "Dieser Chat ist für diese Seite nicht eingerichtet.",
    "Bitte kontaktieren Sie die Website vorerst auf anderem Weg.",
    "Zahlungsanfrage",
    "Bezahlen",
    "Nicht jetzt",
    "Link läuft ab in ",
    "Dieser Link ist abgelaufen.",
    "Link wird storniert…",
    "Ihre Bank bestätigt die Zahlung. Das kann einen Moment dauern.",
    "Zahlung erhalten. Vielen Dank!",
    "Eine Person prüft diese Zahlung und antwortet hier.",
    "Neuen Link anfordern",
    "Offen",
    "In Bearbeitung",
    "Bezahlt ✓",
    "Abgelaufen",
    "Fehlgeschlagen",
    "Wird geprüft",
    "Läuft ab…",
    "Die Zahlung wird bei Stripe bestätigt…",
];

const FR: [&str; COUNT] = [
    "Écrivez un message…",
    "Envoyer",
    "Message",
    "Fermer le chat",
    "Ouvrir le chat",
    "messages non lus",
    "Chat",
    "Connexion…",
    "Connexion perdue. Nouvelle tentative…",
    "Le bot écrit",
    "Assistance",
    "Cette conversation est terminée.",
    "Commencer une nouvelle conversation",
    "Ce chat n'est pas configuré pour cette page.",
    "Merci de contacter le site par un autre moyen pour le moment.",
    "Demande de paiement",
    "Payer",
    "Pas maintenant",
    "Le lien expire dans ",
    "Ce lien a expiré.",
    "Annulation du lien…",
    "Votre banque confirme le paiement. Cela peut prendre un instant.",
    "Paiement reçu. Merci !",
    "Une personne va vérifier ce paiement et vous répondre ici.",
    "Obtenir un nouveau lien",
    "En attente",
    "En cours",
    "Payé ✓",
    "Expiré",
    "Échoué",
    "En vérification",
    "Expiration…",
    "Confirmation du paiement auprès de Stripe…",
];

const ES: [&str; COUNT] = [
    "Escribe un mensaje…",
    "Enviar",
    "Mensaje",
    "Cerrar el chat",
    "Abrir el chat",
    "mensajes sin leer",
    "Chat",
    "Conectando…",
    "Se perdió la conexión. Reintentando…",
    "El bot está escribiendo",
    "Soporte",
    "Esta conversación ha terminado.",
    "Empezar un chat nuevo",
    "Este chat no está configurado para esta página.",
    "Por ahora, contacta con el sitio por otra vía.",
    "Solicitud de pago",
    "Pagar",
    "Ahora no",
    "El enlace caduca en ",
    "Este enlace ha caducado.",
    "Cancelando el enlace…",
    "Tu banco está confirmando el pago. Puede tardar un momento.",
    "Pago recibido. ¡Gracias!",
    "Una persona revisará este pago y te responderá aquí.",
    "Obtener un enlace nuevo",
    "Pendiente",
    "En proceso",
    "Pagado ✓",
    "Caducado",
    "Fallido",
    "En revisión",
    "Caducando…",
    "Confirmando el pago con Stripe…",
];

const PT: [&str; COUNT] = [
    "Escreva uma mensagem…",
    "Enviar",
    "Mensagem",
    "Fechar o chat",
    "Abrir o chat",
    "mensagens não lidas",
    "Chat",
    "A ligar…",
    "Ligação perdida. A tentar de novo…",
    "O bot está a escrever",
    "Suporte",
    "Esta conversa terminou.",
    "Iniciar uma nova conversa",
    "Este chat não está configurado para esta página.",
    "Por agora, contacte o site de outra forma.",
    "Pedido de pagamento",
    "Pagar",
    "Agora não",
    "O link expira em ",
    "Este link expirou.",
    "A cancelar o link…",
    "O seu banco está a confirmar o pagamento. Pode demorar um momento.",
    "Pagamento recebido. Obrigado!",
    "Uma pessoa vai verificar este pagamento e responder aqui.",
    "Obter um novo link",
    "Pendente",
    "Em processamento",
    "Pago ✓",
    "Expirado",
    "Falhou",
    "Em verificação",
    "A expirar…",
    "A confirmar o pagamento com o Stripe…",
];

const IT: [&str; COUNT] = [
    "Scrivi un messaggio…",
    "Invia",
    "Messaggio",
    "Chiudi la chat",
    "Apri la chat",
    "messaggi non letti",
    "Chat",
    "Connessione…",
    "Connessione persa. Nuovo tentativo…",
    "Il bot sta scrivendo",
    "Assistenza",
    "Questa conversazione è terminata.",
    "Inizia una nuova chat",
    "Questa chat non è configurata per questa pagina.",
    "Per ora contatta il sito in un altro modo.",
    "Richiesta di pagamento",
    "Paga",
    "Non ora",
    "Il link scade tra ",
    "Questo link è scaduto.",
    "Annullamento del link…",
    "La tua banca sta confermando il pagamento. Può volerci un momento.",
    "Pagamento ricevuto. Grazie!",
    "Una persona controllerà questo pagamento e risponderà qui.",
    "Ottieni un nuovo link",
    "In attesa",
    "In elaborazione",
    "Pagato ✓",
    "Scaduto",
    "Non riuscito",
    "In verifica",
    "In scadenza…",
    "Conferma del pagamento con Stripe…",
];

const NL: [&str; COUNT] = [
    "Schrijf een bericht…",
    "Versturen",
    "Bericht",
    "Chat sluiten",
    "Chat openen",
    "ongelezen berichten",
    "Chat",
    "Verbinden…",
    "Verbinding verbroken. Opnieuw proberen…",
    "De bot is aan het typen",
    "Support",
    "Dit gesprek is beëindigd.",
    "Nieuwe chat starten",
    "Deze chat is niet ingesteld voor deze pagina.",
    "Neem voorlopig op een andere manier contact op met de site.",
    "Betaalverzoek",
    "Betalen",
    "Niet nu",
    "Link verloopt over ",
    "Deze link is verlopen.",
    "Link wordt geannuleerd…",
    "Uw bank bevestigt de betaling. Dit kan even duren.",
    "Betaling ontvangen. Bedankt!",
    "Iemand controleert deze betaling en antwoordt hier.",
    "Nieuwe link aanvragen",
    "Openstaand",
    "In behandeling",
    "Betaald ✓",
    "Verlopen",
    "Mislukt",
    "Wordt gecontroleerd",
    "Verloopt…",
    "Betaling wordt bevestigd bij Stripe…",
];

const JA: [&str; COUNT] = [
    "メッセージを入力…",
    "送信",
    "メッセージ",
    "チャットを閉じる",
    "チャットを開く",
    "件の未読メッセージ",
    "チャット",
    "接続中…",
    "接続が切れました。再接続しています…",
    "ボットが入力中です",
    "サポート",
    "この会話は終了しました。",
    "新しいチャットを始める",
    "このチャットはこのページ用に設定されていません。",
    "恐れ入りますが、しばらくは別の方法でサイトにお問い合わせください。",
    "お支払いのお願い",
    "支払う",
    "今はしない",
    "リンクの有効期限まで ",
    "このリンクは期限切れです。",
    "リンクを取り消しています…",
    "銀行がお支払いを確認しています。少し時間がかかる場合があります。",
    "お支払いを受け付けました。ありがとうございます！",
    "担当者がこのお支払いを確認し、ここで返信します。",
    "新しいリンクを受け取る",
    "未払い",
    "処理中",
    "支払い済み ✓",
    "期限切れ",
    "失敗",
    "確認中",
    "期限切れ処理中…",
    "Stripe で支払いを確認しています…",
];

const PAGE_EN: [&str; PAGE_COUNT] = [
    "You can close this tab and go back to the chat.",
    "Almost there",
    "Stripe has not confirmed the payment yet; the chat will update by itself in a moment.",
    "Payment received ✓",
    "Thank you! The chat already knows.",
    "Payment processing",
    "Your bank is confirming the payment; the chat will tell you when it is through.",
    "Payment being checked",
    "Stripe reported a payment that differs from what was asked; a person will check it and reply in the chat.",
    "Payment not completed",
    "The payment did not go through; the chat will offer what to do next.",
    "Nothing was cancelled",
    "This link does not cancel a payment. To cancel, use the payment's \"Not now\" in the chat, or go back from the Stripe page.",
    "Cancelling…",
    "Stripe is slow to confirm; no money was taken, and the chat will carry on by itself.",
    "Already paid ✓",
    "This payment had already gone through, so nothing was cancelled.",
    "Payment being confirmed",
    "You already paid with a method your bank is confirming, so nothing was cancelled; the chat will tell you when it is through.",
    "Stripe reported a payment for this link; a person will check it and reply in the chat.",
    "Payment cancelled",
    "No money was taken. The chat will carry on from here.",
    "Payment status unknown",
    "This payment link is not known here.",
    "Stripe could not be reached just now; the chat will still update when Stripe reports back.",
    "Something went wrong on our side; the chat will still update when Stripe reports back.",
    "The payment form could not load here (a blocker or this browser's settings stopped Stripe). Reload the page, or open the link in another browser; the chat keeps your payment.",
];

const PAGE_DE: [&str; PAGE_COUNT] = [
    "Sie können diesen Tab schließen und zum Chat zurückkehren.",
    "Fast geschafft",
    "Stripe hat die Zahlung noch nicht bestätigt; der Chat aktualisiert sich gleich von selbst.",
    "Zahlung erhalten ✓",
    "Vielen Dank! Der Chat weiß schon Bescheid.",
    "Zahlung in Bearbeitung",
    "Ihre Bank bestätigt die Zahlung; der Chat sagt Ihnen, wenn sie durch ist.",
    "Zahlung wird geprüft",
    "Stripe hat eine Zahlung gemeldet, die vom Angefragten abweicht; eine Person prüft sie und antwortet im Chat.",
    "Zahlung nicht abgeschlossen",
    "Die Zahlung ist nicht durchgegangen; der Chat bietet Ihnen die nächsten Schritte an.",
    "Nichts wurde storniert",
    "Dieser Link storniert keine Zahlung. Zum Stornieren nutzen Sie „Nicht jetzt“ im Chat oder gehen auf der Stripe-Seite zurück.",
    "Wird storniert…",
    "Stripe bestätigt langsam; es wurde kein Geld abgebucht, und der Chat macht von selbst weiter.",
    "Bereits bezahlt ✓",
    "Diese Zahlung war schon durchgegangen, daher wurde nichts storniert.",
    "Zahlung wird bestätigt",
    "Sie haben bereits mit einer Methode bezahlt, die Ihre Bank noch bestätigt; daher wurde nichts storniert. Der Chat sagt Ihnen, wenn sie durch ist.",
    "Stripe hat eine Zahlung für diesen Link gemeldet; eine Person prüft sie und antwortet im Chat.",
    "Zahlung storniert",
    "Es wurde kein Geld abgebucht. Der Chat macht hier weiter.",
    "Zahlungsstatus unbekannt",
    "Dieser Zahlungslink ist hier nicht bekannt.",
    "Stripe war gerade nicht erreichbar; der Chat aktualisiert sich trotzdem, sobald Stripe sich meldet.",
    "Bei uns ist etwas schiefgegangen; der Chat aktualisiert sich trotzdem, sobald Stripe sich meldet.",
    "Das Zahlungsformular konnte hier nicht geladen werden (ein Blocker oder die Einstellungen dieses Browsers haben Stripe verhindert). Laden Sie die Seite neu oder öffnen Sie den Link in einem anderen Browser; der Chat behält Ihre Zahlung.",
];

const PAGE_FR: [&str; PAGE_COUNT] = [
    "Vous pouvez fermer cet onglet et revenir au chat.",
    "Presque terminé",
    "Stripe n'a pas encore confirmé le paiement ; le chat se mettra à jour tout seul dans un instant.",
    "Paiement reçu ✓",
    "Merci ! Le chat est déjà au courant.",
    "Paiement en cours",
    "Votre banque confirme le paiement ; le chat vous préviendra quand il sera passé.",
    "Paiement en vérification",
    "Stripe a signalé un paiement différent de la demande ; une personne va le vérifier et répondre dans le chat.",
    "Paiement non abouti",
    "Le paiement n'est pas passé ; le chat vous proposera la suite.",
    "Rien n'a été annulé",
    "Ce lien n'annule pas de paiement. Pour annuler, utilisez « Pas maintenant » dans le chat ou revenez en arrière depuis la page Stripe.",
    "Annulation…",
    "Stripe tarde à confirmer ; aucun argent n'a été prélevé et le chat continuera tout seul.",
    "Déjà payé ✓",
    "Ce paiement était déjà passé, rien n'a donc été annulé.",
    "Paiement en cours de confirmation",
    "Vous avez déjà payé avec un moyen que votre banque confirme, rien n'a donc été annulé ; le chat vous préviendra quand il sera passé.",
    "Stripe a signalé un paiement pour ce lien ; une personne va le vérifier et répondre dans le chat.",
    "Paiement annulé",
    "Aucun argent n'a été prélevé. Le chat reprend à partir d'ici.",
    "Statut du paiement inconnu",
    "Ce lien de paiement n'est pas connu ici.",
    "Stripe est injoignable pour le moment ; le chat se mettra quand même à jour dès que Stripe répondra.",
    "Un problème est survenu de notre côté ; le chat se mettra quand même à jour dès que Stripe répondra.",
    "Le formulaire de paiement n'a pas pu se charger ici (un bloqueur ou les réglages de ce navigateur ont arrêté Stripe). Rechargez la page ou ouvrez le lien dans un autre navigateur ; le chat garde votre paiement.",
];

const PAGE_ES: [&str; PAGE_COUNT] = [
    "Puedes cerrar esta pestaña y volver al chat.",
    "Casi listo",
    "Stripe aún no ha confirmado el pago; el chat se actualizará solo en un momento.",
    "Pago recibido ✓",
    "¡Gracias! El chat ya lo sabe.",
    "Pago en proceso",
    "Tu banco está confirmando el pago; el chat te avisará cuando se complete.",
    "Pago en revisión",
    "Stripe informó de un pago distinto de lo solicitado; una persona lo revisará y responderá en el chat.",
    "Pago no completado",
    "El pago no se realizó; el chat te ofrecerá qué hacer a continuación.",
    "No se canceló nada",
    "Este enlace no cancela ningún pago. Para cancelar, usa «Ahora no» en el chat o vuelve atrás desde la página de Stripe.",
    "Cancelando…",
    "Stripe tarda en confirmar; no se ha cobrado nada y el chat seguirá solo.",
    "Ya pagado ✓",
    "Este pago ya se había realizado, así que no se canceló nada.",
    "Pago en confirmación",
    "Ya pagaste con un método que tu banco está confirmando, así que no se canceló nada; el chat te avisará cuando se complete.",
    "Stripe informó de un pago para este enlace; una persona lo revisará y responderá en el chat.",
    "Pago cancelado",
    "No se ha cobrado nada. El chat sigue desde aquí.",
    "Estado del pago desconocido",
    "Este enlace de pago no se conoce aquí.",
    "No se pudo contactar con Stripe ahora mismo; el chat se actualizará igualmente cuando Stripe responda.",
    "Algo ha fallado por nuestra parte; el chat se actualizará igualmente cuando Stripe responda.",
    "El formulario de pago no pudo cargarse aquí (un bloqueador o los ajustes de este navegador detuvieron Stripe). Recarga la página o abre el enlace en otro navegador; el chat conserva tu pago.",
];

const PAGE_PT: [&str; PAGE_COUNT] = [
    "Pode fechar este separador e voltar ao chat.",
    "Quase lá",
    "A Stripe ainda não confirmou o pagamento; o chat atualiza-se sozinho dentro de momentos.",
    "Pagamento recebido ✓",
    "Obrigado! O chat já sabe.",
    "Pagamento em processamento",
    "O seu banco está a confirmar o pagamento; o chat avisa quando estiver concluído.",
    "Pagamento em verificação",
    "A Stripe comunicou um pagamento diferente do pedido; uma pessoa vai verificá-lo e responder no chat.",
    "Pagamento não concluído",
    "O pagamento não foi efetuado; o chat vai sugerir o que fazer a seguir.",
    "Nada foi cancelado",
    "Este link não cancela pagamentos. Para cancelar, use «Agora não» no chat ou volte atrás na página da Stripe.",
    "A cancelar…",
    "A Stripe está a demorar a confirmar; não foi cobrado nada e o chat continua sozinho.",
    "Já pago ✓",
    "Este pagamento já tinha sido efetuado, por isso nada foi cancelado.",
    "Pagamento em confirmação",
    "Já pagou com um método que o seu banco está a confirmar, por isso nada foi cancelado; o chat avisa quando estiver concluído.",
    "A Stripe comunicou um pagamento para este link; uma pessoa vai verificá-lo e responder no chat.",
    "Pagamento cancelado",
    "Não foi cobrado nada. O chat continua a partir daqui.",
    "Estado do pagamento desconhecido",
    "Este link de pagamento não é conhecido aqui.",
    "Não foi possível contactar a Stripe agora; o chat atualiza-se na mesma quando a Stripe responder.",
    "Algo correu mal do nosso lado; o chat atualiza-se na mesma quando a Stripe responder.",
    "O formulário de pagamento não pôde ser carregado aqui (um bloqueador ou as definições deste navegador impediram o Stripe). Recarregue a página ou abra o link noutro navegador; o chat guarda o seu pagamento.",
];

const PAGE_IT: [&str; PAGE_COUNT] = [
    "Puoi chiudere questa scheda e tornare alla chat.",
    "Quasi fatto",
    "Stripe non ha ancora confermato il pagamento; la chat si aggiornerà da sola tra un momento.",
    "Pagamento ricevuto ✓",
    "Grazie! La chat lo sa già.",
    "Pagamento in elaborazione",
    "La tua banca sta confermando il pagamento; la chat ti avviserà quando sarà completato.",
    "Pagamento in verifica",
    "Stripe ha segnalato un pagamento diverso da quello richiesto; una persona lo controllerà e risponderà in chat.",
    "Pagamento non completato",
    "Il pagamento non è andato a buon fine; la chat ti proporrà come proseguire.",
    "Nulla è stato annullato",
    "Questo link non annulla pagamenti. Per annullare, usa «Non ora» nella chat o torna indietro dalla pagina di Stripe.",
    "Annullamento…",
    "Stripe è lento a confermare; non è stato addebitato nulla e la chat proseguirà da sola.",
    "Già pagato ✓",
    "Questo pagamento era già andato a buon fine, quindi nulla è stato annullato.",
    "Pagamento in conferma",
    "Hai già pagato con un metodo che la tua banca sta confermando, quindi nulla è stato annullato; la chat ti avviserà quando sarà completato.",
    "Stripe ha segnalato un pagamento per questo link; una persona lo controllerà e risponderà in chat.",
    "Pagamento annullato",
    "Non è stato addebitato nulla. La chat prosegue da qui.",
    "Stato del pagamento sconosciuto",
    "Questo link di pagamento non è noto qui.",
    "Al momento Stripe non è raggiungibile; la chat si aggiornerà comunque quando Stripe risponderà.",
    "Qualcosa è andato storto da parte nostra; la chat si aggiornerà comunque quando Stripe risponderà.",
    "Il modulo di pagamento non si è potuto caricare qui (un blocco o le impostazioni di questo browser hanno fermato Stripe). Ricarica la pagina o apri il link in un altro browser; la chat conserva il tuo pagamento.",
];

const PAGE_NL: [&str; PAGE_COUNT] = [
    "U kunt dit tabblad sluiten en teruggaan naar de chat.",
    "Bijna klaar",
    "Stripe heeft de betaling nog niet bevestigd; de chat werkt zichzelf zo bij.",
    "Betaling ontvangen ✓",
    "Bedankt! De chat weet het al.",
    "Betaling in behandeling",
    "Uw bank bevestigt de betaling; de chat laat het weten zodra die rond is.",
    "Betaling wordt gecontroleerd",
    "Stripe meldde een betaling die afwijkt van het gevraagde; iemand controleert die en antwoordt in de chat.",
    "Betaling niet voltooid",
    "De betaling is niet gelukt; de chat biedt aan wat u nu kunt doen.",
    "Er is niets geannuleerd",
    "Deze link annuleert geen betaling. Annuleren kan met „Niet nu” in de chat, of door terug te gaan op de Stripe-pagina.",
    "Annuleren…",
    "Stripe bevestigt traag; er is geen geld afgeschreven en de chat gaat vanzelf verder.",
    "Al betaald ✓",
    "Deze betaling was al gelukt, dus er is niets geannuleerd.",
    "Betaling wordt bevestigd",
    "U heeft al betaald met een methode die uw bank nog bevestigt, dus er is niets geannuleerd; de chat laat het weten zodra die rond is.",
    "Stripe meldde een betaling voor deze link; iemand controleert die en antwoordt in de chat.",
    "Betaling geannuleerd",
    "Er is geen geld afgeschreven. De chat gaat hier verder.",
    "Betaalstatus onbekend",
    "Deze betaallink is hier niet bekend.",
    "Stripe was zojuist niet bereikbaar; de chat werkt zich toch bij zodra Stripe reageert.",
    "Er ging bij ons iets mis; de chat werkt zich toch bij zodra Stripe reageert.",
    "Het betaalformulier kon hier niet laden (een blokkering of de instellingen van deze browser hielden Stripe tegen). Laad de pagina opnieuw of open de link in een andere browser; de chat bewaart je betaling.",
];

const PAGE_JA: [&str; PAGE_COUNT] = [
    "このタブを閉じて、チャットに戻ってください。",
    "もう少しです",
    "Stripe はまだお支払いを確認していません。チャットはまもなく自動で更新されます。",
    "お支払いを受け付けました ✓",
    "ありがとうございます！チャットにはすでに反映されています。",
    "お支払いを処理中です",
    "銀行がお支払いを確認しています。完了したらチャットでお知らせします。",
    "お支払いを確認中です",
    "Stripe から依頼内容と異なるお支払いの報告がありました。担当者が確認し、チャットで返信します。",
    "お支払いは完了していません",
    "お支払いは完了しませんでした。次にできることをチャットでご案内します。",
    "何も取り消されていません",
    "このリンクではお支払いは取り消されません。取り消すには、チャットの「今はしない」を使うか、Stripe のページから戻ってください。",
    "取り消しています…",
    "Stripe の確認に時間がかかっています。料金は請求されておらず、チャットは自動で続きます。",
    "お支払い済みです ✓",
    "このお支払いはすでに完了していたため、何も取り消されていません。",
    "お支払いを確認中です",
    "銀行が確認中の方法ですでにお支払いいただいているため、何も取り消されていません。完了したらチャットでお知らせします。",
    "Stripe からこのリンクのお支払いの報告がありました。担当者が確認し、チャットで返信します。",
    "お支払いを取り消しました",
    "料金は請求されていません。チャットはここから続きます。",
    "お支払いの状況が不明です",
    "このお支払いリンクはここでは認識されていません。",
    "現在 Stripe に接続できません。Stripe から連絡があり次第、チャットは更新されます。",
    "こちら側で問題が発生しました。Stripe から連絡があり次第、チャットは更新されます。",
    "ここでは支払いフォームを読み込めませんでした（ブロッカーまたはこのブラウザの設定が Stripe を止めました）。ページを再読み込みするか、別のブラウザでリンクを開いてください。チャットはお支払いを保持しています。",
];

/// The words of the checkout drawn over the chat panel (`/pay-panel.js`): the way back to
/// the chat, why the form did not open, and the link to the payment's page then.
pub fn pay_panel(lang: &str) -> [&'static str; 3] {
    match language_of(lang).unwrap_or("en") {
        "de" => [
            "Zurück zum Chat",
            "Das Zahlungsformular konnte hier nicht geöffnet werden.",
            "Zahlungsseite öffnen",
        ],
        "fr" => [
            "Retour à la conversation",
            "Le formulaire de paiement n'a pas pu s'ouvrir ici.",
            "Ouvrir la page de paiement",
        ],
        "es" => [
            "Volver al chat",
            "El formulario de pago no pudo abrirse aquí.",
            "Abrir la página de pago",
        ],
        "pt" => [
            "Voltar ao chat",
            "O formulário de pagamento não pôde abrir aqui.",
            "Abrir a página de pagamento",
        ],
        "it" => [
            "Torna alla chat",
            "Il modulo di pagamento non si è potuto aprire qui.",
            "Apri la pagina di pagamento",
        ],
        "nl" => [
            "Terug naar de chat",
            "Het betaalformulier kon hier niet openen.",
            "Open de betaalpagina",
        ],
        "ja" => [
            "チャットに戻る",
            "ここでは支払いフォームを開けませんでした。",
            "支払いページを開く",
        ],
        _ => [
            "Back to the chat",
            "The payment form could not open here.",
            "Open the payment page",
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;

    /// A 1.4 MB body of 100,000 made-up languages was answered with 10.9 MB (every language
    /// listed again in each mistake), a 1.9 MB made-up word echoed twice: the answer stays
    /// small whatever is sent.
    #[test]
    fn the_answer_to_a_huge_wrong_body_stays_small() {
        let mut given = Overrides::new();
        for i in 0..100_000 {
            given.insert(format!("x{i}"), BTreeMap::new());
        }
        given.insert("de".into(), BTreeMap::from([("k".repeat(1_900_000), "v".into())]));
        let Err(crate::error::AppError::InvalidFields(all)) = checked_overrides(given) else {
            panic!("not refused field by field")
        };
        let size: usize = all.iter().map(|(_, m)| m.len()).sum();
        assert!(all.len() <= 21, "{} mistakes said", all.len());
        assert!(size < 4_000, "{size} bytes of mistakes");
        assert!(all.last().unwrap().1.contains("more"), "{:?}", all.last());
    }

    #[test]
    fn every_language_has_every_word_and_keeps_the_countdowns_space() {
        for lang in chatpay_shared::texts::LANGUAGES {
            let t = widget(lang);
            assert!(t.iter().all(|w| !w.trim().is_empty()), "{lang}");
            // The countdown's number follows this word directly.
            assert!(
                t[chatpay_shared::texts::Text::ExpiresIn as usize].ends_with(' '),
                "{lang}"
            );
            for word in [Page::CloseTab, Page::OurSide, Page::PaidTitle] {
                assert!(!page(lang, word).is_empty(), "{lang}");
            }
        }
        assert_eq!(
            widget("de")[chatpay_shared::texts::Text::Pay as usize],
            "Bezahlen"
        );
        assert_eq!(page("fr", Page::CancelledTitle), "Paiement annulé");
    }

    #[test]
    fn the_browser_picks_the_language_of_a_return_page() {
        assert_eq!(from_accept_language(Some("de-DE,de;q=0.9,en;q=0.8")), "de");
        assert_eq!(
            from_accept_language(Some("sv-SE,sv;q=0.9,fr;q=0.5,en;q=0.4")),
            "fr"
        );
        assert_eq!(from_accept_language(Some("en;q=0.3, ja")), "ja");
        assert_eq!(from_accept_language(Some("zz")), "en");
        assert_eq!(from_accept_language(None), "en");
    }

    #[test]
    fn the_owner_overrides_words_in_a_language() {
        let mut o = Overrides::new();
        o.entry("de".into())
            .or_default()
            .insert("pay".into(), "Jetzt zahlen".into());
        let de = for_visitor("de-AT", &o);
        assert_eq!(de[chatpay_shared::texts::Text::Pay as usize], "Jetzt zahlen");
        assert_eq!(de[chatpay_shared::texts::Text::NotNow as usize], "Nicht jetzt");
        assert!(
            for_visitor("en-US", &o).is_empty(),
            "English with no overrides: the widget has it"
        );
        assert!(
            for_visitor("sv", &o).is_empty(),
            "an unshipped language falls back to English"
        );
        o.entry("en".into())
            .or_default()
            .insert("pay".into(), "Pay now".into());
        assert_eq!(
            for_visitor("en", &o)[chatpay_shared::texts::Text::Pay as usize],
            "Pay now"
        );
    }
}
