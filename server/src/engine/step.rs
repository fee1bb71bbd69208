//! The workflow interpreter as a pure function: [`step`] takes a definition, a run state
//! and an event, and returns the next run state and the effects to carry out. It does no
//! IO; [`super::runner`] stores the state and performs the effects in one transaction.
//!
//! A run advances through nodes until one waits: an Ask (for the visitor), a Request
//! Payment (for Stripe), a Handoff (for a person) or a Close (for ever). At most
//! [`MAX_NODES_PER_STEP`] nodes run per event, a guard behind the validator's loop check.

use std::collections::BTreeMap;

use chatpay_shared::money::Money;
use chatpay_shared::protocol::PaymentStatus;
use chatpay_shared::run::{RunState, RunStatus};
use chatpay_shared::workflow::{interpolate, Amount, NodeKind, Operator, Workflow};

/// The most nodes one event may run.
pub const MAX_NODES_PER_STEP: usize = 200;

/// The most payment links one conversation may ask for (a rate limit on Stripe sessions:
/// a visitor cannot make the bot mint links without end).
pub const MAX_PAYMENTS_PER_RUN: u32 = 10;

/// What happened to the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// The conversation began.
    Start,
    /// The visitor wrote.
    VisitorText(&'a str),
    /// Stripe made the Checkout Session of the payment being created.
    PaymentOpened { payment: &'a str, url: &'a str },
    /// Stripe could not make it. `unavailable`: retrying cannot help (no Stripe connected,
    /// a key Stripe refuses, a request Stripe refuses for good), so a person is asked for;
    /// otherwise (a budget, an outage) the visitor may try again later.
    PaymentNotOpened { payment: &'a str, unavailable: bool },
    /// The payment reached a state (only terminal ones move the run).
    PaymentResolved { payment: &'a str, status: PaymentStatus },
    /// A person handed the conversation back to the bot.
    AgentHandBack,
}

/// A payment the run asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOrder {
    pub id: String,
    /// In the currency's minor units, checked against its rules and Stripe's minimum.
    pub amount_minor: i64,
    /// Upper-case ISO code.
    pub currency: String,
    pub description: String,
    pub lifetime_minutes: u32,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
}

/// Something the runner must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a bot message.
    Say(String),
    /// Store this payment and create its Checkout Session.
    CreatePayment(PaymentOrder),
    /// Show the payment's card (its session exists now).
    ShowCard { payment: String },
    /// Hand the conversation to a person.
    Handoff,
    /// Close the conversation.
    Close,
    /// The bot carries on after a payment: a person asked for while it was awaited is no
    /// longer waited for (unless one has already joined).
    BotAgain,
    /// A Request Payment node asked and no payment was made (`reason`: `invalid_amount`,
    /// `too_many`): kept, so the owner's conversion counts every request.
    RequestRefused { node: String, reason: &'static str },
}

const SAY_PAYMENT_ERROR: &str =
    "Sorry, I couldn't create a payment link just now. Nothing was charged; please try again in a moment.";
const SAY_TOO_MANY: &str =
    "This conversation has asked for many payment links already; a person will help you from here.";
pub(crate) const SAY_HANDOFF: &str = "I'm connecting you with a person. They will reply here.";
const SAY_STUCK: &str = "Sorry, something went wrong on our side. A person will look at this conversation.";
const SAY_CHECKING: &str =
    "Thank you. A person needs to check this payment before we go on; they will reply here.";
const SAY_PAYMENT_PENDING: &str =
    "Your payment link is in the card above; I'll carry on here as soon as it's paid. \
     If you'd rather not pay now, press \"Not now\" on the card. Need a person? Just write again.";
const SAY_PAYMENTS_UNAVAILABLE: &str =
    "Sorry, payments aren't available here right now, so nothing was charged. \
     I'm asking a person to help you; they will reply here.";
const SAY_PERSON: &str = "I'm asking a person to join. They will reply here.";
pub(crate) const SAY_ALL_DONE: &str = "Thanks for chatting with us. This conversation is now closed.";

/// Advances `run` by `event`. Events that do not fit the run's state change nothing.
pub fn step(wf: &Workflow, run: &RunState, event: Event<'_>) -> (RunState, Vec<Effect>) {
    let mut run = run.clone();
    let mut effects = Vec::new();
    match event {
        Event::Start if run.status == RunStatus::New => {
            let start = wf.start.clone();
            advance(wf, &mut run, Some(start), &mut effects);
        }
        Event::VisitorText(_)
            if matches!(run.status, RunStatus::WaitingPayment | RunStatus::CreatingPayment) =>
        {
            // The visitor writes while the link is out: point to it, then fetch a person.
            match run.written_while_paying {
                0 => effects.push(Effect::Say(SAY_PAYMENT_PENDING.into())),
                1 => {
                    effects.push(Effect::Say(SAY_PERSON.into()));
                    effects.push(Effect::Handoff);
                }
                _ => {}
            }
            run.written_while_paying = run.written_while_paying.saturating_add(1);
        }
        Event::VisitorText(_) if run.status == RunStatus::Finished && run.node.is_none() => {
            // The workflow ran out without closing: a person answers from here.
            effects.push(Effect::Say(SAY_HANDOFF.into()));
            effects.push(Effect::Handoff);
            run.status = RunStatus::WaitingAgent;
            run.node = None;
        }
        Event::VisitorText(text) if run.status == RunStatus::WaitingInput => {
            let node = run
                .node
                .as_deref()
                .and_then(|id| wf.node(id))
                .map(|n| n.kind.clone());
            if let Some(NodeKind::Ask {
                text: question,
                variable,
                pattern,
                retry_text,
                next,
            }) = node
            {
                let answer = text.trim();
                if pattern.as_deref().is_none_or(|p| matches_pattern(p, answer)) {
                    run.vars.insert(variable, answer.to_owned());
                    advance(wf, &mut run, next, &mut effects);
                } else {
                    let retry = retry_text.unwrap_or_else(|| format!("Sorry, I didn't get that. {question}"));
                    effects.push(Effect::Say(fill(&retry, &run.vars, None)));
                }
            }
        }
        Event::PaymentOpened { payment, url } if waits_for(&run, RunStatus::CreatingPayment, payment) => {
            let node = run
                .node
                .as_deref()
                .and_then(|id| wf.node(id))
                .map(|n| n.kind.clone());
            if let Some(NodeKind::RequestPayment { message, .. }) = node {
                effects.push(Effect::Say(fill(&message, &run.vars, Some(url))));
            }
            effects.push(Effect::ShowCard {
                payment: payment.to_owned(),
            });
            run.status = RunStatus::WaitingPayment;
        }
        Event::PaymentNotOpened { payment, unavailable }
            if waits_for(&run, RunStatus::CreatingPayment, payment) =>
        {
            if unavailable {
                // Payments cannot work here as it is set up: a person takes over; handing
                // back goes on after the node with the result `error`.
                run.written_while_paying = 0;
                run.payment = None;
                if let Some(NodeKind::RequestPayment { result_variable, .. }) =
                    run.node.as_deref().and_then(|id| wf.node(id)).map(|n| &n.kind)
                {
                    run.vars.insert(result_variable.clone(), "error".into());
                }
                effects.push(Effect::Say(SAY_PAYMENTS_UNAVAILABLE.into()));
                effects.push(Effect::Handoff);
                run.status = RunStatus::WaitingAgent;
            } else {
                bot_again(&mut run, &mut effects);
                effects.push(Effect::Say(SAY_PAYMENT_ERROR.into()));
                resume_after_payment(wf, &mut run, "error", &mut effects);
            }
        }
        Event::PaymentResolved { payment, status }
            if status.is_terminal()
                && (waits_for(&run, RunStatus::WaitingPayment, payment)
                    || waits_for(&run, RunStatus::CreatingPayment, payment)) =>
        {
            if status == PaymentStatus::Mismatch {
                run.written_while_paying = 0;
                // Not paid as asked: a person checks it before the workflow goes on (with
                // the result `error`) after they hand the conversation back.
                run.payment = None;
                if let Some(NodeKind::RequestPayment { result_variable, .. }) =
                    run.node.as_deref().and_then(|id| wf.node(id)).map(|n| &n.kind)
                {
                    run.vars.insert(result_variable.clone(), "error".into());
                }
                effects.push(Effect::Say(SAY_CHECKING.into()));
                effects.push(Effect::Handoff);
                run.status = RunStatus::WaitingAgent;
            } else {
                bot_again(&mut run, &mut effects);
                resume_after_payment(wf, &mut run, status.as_str(), &mut effects);
            }
        }
        Event::AgentHandBack if run.status == RunStatus::WaitingAgent => {
            let next = match run.node.as_deref().and_then(|id| wf.node(id)).map(|n| &n.kind) {
                Some(NodeKind::Handoff { next, .. } | NodeKind::RequestPayment { next, .. }) => next.clone(),
                _ => None,
            };
            match next {
                Some(_) => advance(wf, &mut run, next, &mut effects),
                // Nothing after the person: the chat ends, and the visitor is told so.
                None => close_after_person(&mut run, &mut effects),
            }
        }
        _ => {}
    }
    (run, effects)
}

/// A person handed back and the workflow has nothing next: the chat closes with a word.
pub fn close_after_person(run: &mut RunState, effects: &mut Vec<Effect>) {
    effects.push(Effect::Say(SAY_ALL_DONE.into()));
    effects.push(Effect::Close);
    run.status = RunStatus::Finished;
    // Ended, and not by running out (which leaves no node): an empty id is never a node's.
    run.node = Some(String::new());
}

/// The payment the run waited for is settled: a person asked for meanwhile is not needed
/// for the bot to go on.
fn bot_again(run: &mut RunState, effects: &mut Vec<Effect>) {
    if run.written_while_paying >= 2 {
        effects.push(Effect::BotAgain);
    }
    run.written_while_paying = 0;
}

fn waits_for(run: &RunState, status: RunStatus, payment: &str) -> bool {
    run.status == status && run.payment.as_deref() == Some(payment)
}

/// Sets the Request Payment node's result variable and continues after it.
fn resume_after_payment(wf: &Workflow, run: &mut RunState, result: &str, effects: &mut Vec<Effect>) {
    run.payment = None;
    let node = run
        .node
        .as_deref()
        .and_then(|id| wf.node(id))
        .map(|n| n.kind.clone());
    if let Some(NodeKind::RequestPayment {
        result_variable,
        next,
        ..
    }) = node
    {
        run.vars.insert(result_variable, result.to_owned());
        advance(wf, run, next, effects);
    }
}

/// Runs nodes from `from` until one waits or the workflow ends.
fn advance(wf: &Workflow, run: &mut RunState, mut from: Option<String>, effects: &mut Vec<Effect>) {
    for _ in 0..MAX_NODES_PER_STEP {
        let Some(id) = from.take() else {
            run.status = RunStatus::Finished;
            run.node = None;
            return;
        };
        let Some(node) = wf.node(&id) else {
            effects.push(Effect::Say(SAY_STUCK.into()));
            effects.push(Effect::Handoff);
            run.status = RunStatus::WaitingAgent;
            run.node = None;
            return;
        };
        match &node.kind {
            NodeKind::SendMessage { text, next } => {
                effects.push(Effect::Say(fill(text, &run.vars, None)));
                from = next.clone();
            }
            NodeKind::SetVariable {
                variable,
                value,
                next,
            } => {
                let v = fill(value, &run.vars, None);
                run.vars.insert(variable.clone(), v);
                from = next.clone();
            }
            NodeKind::Condition {
                variable,
                operator,
                value,
                then,
                otherwise,
            } => {
                let actual = run.vars.get(variable).map(String::as_str).unwrap_or("");
                let expected = fill(value, &run.vars, None);
                from = Some(if compare(actual, *operator, &expected) {
                    then.clone()
                } else {
                    otherwise.clone()
                });
            }
            NodeKind::Ask { text, .. } => {
                effects.push(Effect::Say(fill(text, &run.vars, None)));
                run.status = RunStatus::WaitingInput;
                run.node = Some(id);
                return;
            }
            NodeKind::Handoff { text, .. } => {
                let say = text
                    .as_deref()
                    .map(|t| fill(t, &run.vars, None))
                    .unwrap_or_else(|| SAY_HANDOFF.into());
                effects.push(Effect::Say(say));
                effects.push(Effect::Handoff);
                run.status = RunStatus::WaitingAgent;
                run.node = Some(id);
                return;
            }
            NodeKind::Close { text } => {
                if let Some(t) = text {
                    effects.push(Effect::Say(fill(t, &run.vars, None)));
                }
                effects.push(Effect::Close);
                run.status = RunStatus::Finished;
                run.node = Some(id);
                return;
            }
            NodeKind::RequestPayment {
                amount,
                currency,
                description,
                result_variable,
                lifetime_minutes,
                success_url,
                cancel_url,
                next,
                ..
            } => {
                let (typed, parsed) = match amount {
                    Amount::Fixed(text) => (text.clone(), Money::parse(text, currency)),
                    Amount::FromVariable(name) => {
                        let text = run.vars.get(name).cloned().unwrap_or_default();
                        let parsed = Money::parse(&text, currency);
                        (text, parsed)
                    }
                };
                if run.payments_made >= MAX_PAYMENTS_PER_RUN {
                    effects.push(Effect::RequestRefused {
                        node: id.clone(),
                        reason: "too_many",
                    });
                    effects.push(Effect::Say(SAY_TOO_MANY.into()));
                    run.vars.insert(result_variable.clone(), "error".into());
                    from = next.clone();
                    continue;
                }
                match parsed {
                    Err(e) => {
                        effects.push(Effect::RequestRefused {
                            node: id.clone(),
                            reason: "invalid_amount",
                        });
                        let why = polite(&e.to_string());
                        // A workflow with its own `invalid_amount` branch says it in its own
                        // words (with <<amountProblem>> for the reason); the built-in apology
                        // would say it twice.
                        if !handles_invalid_amount(wf, result_variable) {
                            effects.push(Effect::Say(format!(
                                "Sorry, I can't request a payment of '{}': {why}. Nothing was charged.",
                                typed.trim(),
                            )));
                        }
                        run.vars.insert(AMOUNT_PROBLEM.into(), why);
                        run.vars.insert(result_variable.clone(), "invalid_amount".into());
                        from = next.clone();
                    }
                    Ok(money) => {
                        run.payments_made += 1;
                        let payment = format!("pay_{}_{}", run.key, run.payments_made);
                        effects.push(Effect::CreatePayment(PaymentOrder {
                            id: payment.clone(),
                            amount_minor: money.minor,
                            currency: money.currency.code.to_owned(),
                            description: fill(description, &run.vars, None),
                            lifetime_minutes: *lifetime_minutes,
                            success_url: success_url.clone(),
                            cancel_url: cancel_url.clone(),
                        }));
                        run.status = RunStatus::CreatingPayment;
                        run.node = Some(id);
                        run.payment = Some(payment);
                        return;
                    }
                }
            }
        }
    }
    effects.push(Effect::Say(SAY_STUCK.into()));
    effects.push(Effect::Handoff);
    run.status = RunStatus::WaitingAgent;
}

/// The variable that holds why an amount was refused, for a workflow's own message.
pub const AMOUNT_PROBLEM: &str = "amountProblem";

/// Whether a Condition of the workflow looks for `invalid_amount` in `variable`: the owner
/// answers an invalid amount themselves.
fn handles_invalid_amount(wf: &Workflow, variable: &str) -> bool {
    wf.nodes.iter().any(|n| {
        matches!(&n.kind, NodeKind::Condition { variable: v, value, .. }
            if v == variable && value.trim() == "invalid_amount")
    })
}

/// The part of an amount error after "invalid amount '…' for XYZ: ", for a visitor.
fn polite(message: &str) -> String {
    match message.split_once(": ") {
        Some((_, why)) => why.to_owned(),
        None => message.to_owned(),
    }
}

/// Fills placeholders from the variables (and `paymentUrl` in a payment message).
fn fill(text: &str, vars: &BTreeMap<String, String>, payment_url: Option<&str>) -> String {
    interpolate(text, |name| match (name, payment_url) {
        ("paymentUrl", Some(url)) => Some(url.to_owned()),
        _ => vars.get(name).cloned(),
    })
}

/// Whether the whole answer matches the pattern. A pattern that does not compile matches
/// nothing (the validator refuses such patterns before publishing).
fn matches_pattern(pattern: &str, answer: &str) -> bool {
    regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(answer))
}

/// A Condition's comparison. Text ignores case and surrounding space; numbers are decimals.
pub fn compare(actual: &str, op: Operator, expected: &str) -> bool {
    let (a, e) = (actual.trim().to_lowercase(), expected.trim().to_lowercase());
    let num = |s: &str| s.trim().parse::<f64>().ok().filter(|n| n.is_finite());
    match op {
        Operator::Equals => a == e,
        Operator::NotEquals => a != e,
        Operator::Contains => a.contains(&e),
        Operator::IsEmpty => a.is_empty(),
        Operator::GreaterThan => matches!((num(actual), num(expected)), (Some(x), Some(y)) if x > y),
        Operator::LessThan => matches!((num(actual), num(expected)), (Some(x), Some(y)) if x < y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatpay_shared::workflow::validate;

    fn wf(json: &str) -> Workflow {
        let w: Workflow = serde_json::from_str(json).unwrap();
        assert!(validate(&w).is_empty(), "{:#?}", validate(&w));
        w
    }

    fn says(effects: &[Effect]) -> Vec<&str> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Say(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// greet → ask amount → pay (from variable) → condition on paymentStatus.
    fn shop() -> Workflow {
        wf(r#"{"format":1,"start":"greet","nodes":[
            {"id":"greet","type":"send_message","text":"Hi!","next":"ask"},
            {"id":"ask","type":"ask","text":"How much, <<who>>?","variable":"amount","next":"pay"},
            {"id":"pay","type":"request_payment","amount":{"from_variable":"amount"},"currency":"USD",
             "description":"Order for <<amount>>","message":"Pay here: <<paymentUrl>>","next":"check"},
            {"id":"check","type":"condition","variable":"paymentStatus","operator":"equals","value":"paid","then":"thanks","else":"sorry"},
            {"id":"thanks","type":"send_message","text":"Thank you!","next":"bye"},
            {"id":"sorry","type":"send_message","text":"Not paid: <<paymentStatus>>"},
            {"id":"bye","type":"close","text":"Bye."}]}"#)
    }

    fn started(w: &Workflow) -> RunState {
        let (run, effects) = step(w, &RunState::new("k1"), Event::Start);
        assert_eq!(says(&effects), vec!["Hi!", "How much, ?"]);
        assert_eq!(run.status, RunStatus::WaitingInput);
        run
    }

    fn order(effects: &[Effect]) -> PaymentOrder {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::CreatePayment(o) => Some(o.clone()),
                _ => None,
            })
            .expect("a payment order")
    }

    #[test]
    fn send_message_and_ask_wait_for_the_answer_then_request_payment_orders_it() {
        let w = shop();
        let run = started(&w);

        let (run, effects) = step(&w, &run, Event::VisitorText(" 49.99 "));

        assert_eq!(run.vars["amount"], "49.99");
        assert_eq!(run.status, RunStatus::CreatingPayment);
        let o = order(&effects);
        assert_eq!(
            (o.id.as_str(), o.amount_minor, o.currency.as_str()),
            ("pay_k1_1", 4999, "USD")
        );
        assert_eq!(o.description, "Order for 49.99");
        assert_eq!(o.lifetime_minutes, 30);
        assert_eq!(run.payment.as_deref(), Some("pay_k1_1"));
        assert!(says(&effects).is_empty(), "the message waits for the link");
    }

    #[test]
    fn an_opened_payment_sends_the_message_with_its_link_and_the_card() {
        let w = shop();
        let (run, _) = step(&w, &started(&w), Event::VisitorText("49.99"));

        let (run, effects) = step(
            &w,
            &run,
            Event::PaymentOpened {
                payment: "pay_k1_1",
                url: "https://pay.example/cs_1",
            },
        );

        assert_eq!(says(&effects), vec!["Pay here: https://pay.example/cs_1"]);
        assert!(effects.contains(&Effect::ShowCard {
            payment: "pay_k1_1".into()
        }));
        assert_eq!(run.status, RunStatus::WaitingPayment);
        // Writing while the link is out: pointed to the card, then a person is asked for;
        // the run keeps waiting for the payment all along.
        let (run, effects) = step(&w, &run, Event::VisitorText("hello?"));
        assert_eq!(says(&effects), vec![SAY_PAYMENT_PENDING]);
        let (run, effects) = step(&w, &run, Event::VisitorText("anyone?"));
        assert_eq!(says(&effects), vec![SAY_PERSON]);
        assert!(effects.contains(&Effect::Handoff));
        let (run, effects) = step(&w, &run, Event::VisitorText("???"));
        assert_eq!(effects, vec![]);
        assert_eq!(run.status, RunStatus::WaitingPayment);
        // The payment settles: the bot carries on, and the person is no longer waited for.
        let (run, effects) = step(
            &w,
            &run,
            Event::PaymentResolved {
                payment: "pay_k1_1",
                status: PaymentStatus::Paid,
            },
        );
        assert_eq!(effects.first(), Some(&Effect::BotAgain));
        assert_eq!(run.written_while_paying, 0);
    }

    fn waiting(w: &Workflow) -> RunState {
        let (run, _) = step(w, &started(w), Event::VisitorText("49.99"));
        step(
            w,
            &run,
            Event::PaymentOpened {
                payment: "pay_k1_1",
                url: "u",
            },
        )
        .0
    }

    #[test]
    fn paid_resumes_into_the_then_branch_and_closes() {
        let w = shop();
        let (run, effects) = step(
            &w,
            &waiting(&w),
            Event::PaymentResolved {
                payment: "pay_k1_1",
                status: PaymentStatus::Paid,
            },
        );
        assert_eq!(run.vars["paymentStatus"], "paid");
        assert_eq!(says(&effects), vec!["Thank you!", "Bye."]);
        assert!(effects.contains(&Effect::Close));
        assert_eq!(run.status, RunStatus::Finished);
        assert_eq!(run.payment, None);
    }

    #[test]
    fn expired_and_failed_resume_into_the_else_branch() {
        let w = shop();
        for status in [PaymentStatus::Expired, PaymentStatus::Failed] {
            let (run, effects) = step(
                &w,
                &waiting(&w),
                Event::PaymentResolved {
                    payment: "pay_k1_1",
                    status,
                },
            );
            assert_eq!(run.vars["paymentStatus"], status.as_str());
            assert_eq!(
                says(&effects),
                vec![format!("Not paid: {}", status.as_str()).as_str()]
            );
            assert_eq!(run.status, RunStatus::Finished, "sorry has no next");
        }
    }

    #[test]
    fn processing_a_repeat_or_another_payment_does_not_resume() {
        let w = shop();
        let run = waiting(&w);
        for event in [
            Event::PaymentResolved {
                payment: "pay_k1_1",
                status: PaymentStatus::Processing,
            },
            Event::PaymentResolved {
                payment: "pay_other",
                status: PaymentStatus::Paid,
            },
            Event::PaymentOpened {
                payment: "pay_k1_1",
                url: "again",
            },
            Event::Start,
        ] {
            let (same, effects) = step(&w, &run, event.clone());
            assert_eq!(same, run, "{event:?}");
            assert!(effects.is_empty(), "{event:?}");
        }
        let (done, _) = step(
            &w,
            &run,
            Event::PaymentResolved {
                payment: "pay_k1_1",
                status: PaymentStatus::Paid,
            },
        );
        let (again, effects) = step(
            &w,
            &done,
            Event::PaymentResolved {
                payment: "pay_k1_1",
                status: PaymentStatus::Paid,
            },
        );
        assert_eq!((again, effects), (done, vec![]), "resumes at most once");
    }

    #[test]
    fn a_workflow_that_answers_an_invalid_amount_itself_is_not_doubled() {
        let w = wf(r#"{"format":1,"start":"ask","nodes":[
            {"id":"ask","type":"ask","text":"How much?","variable":"amount","next":"pay"},
            {"id":"pay","type":"request_payment","amount":{"from_variable":"amount"},"currency":"USD",
             "description":"Bill","next":"bad"},
            {"id":"bad","type":"condition","variable":"paymentStatus","operator":"equals","value":"invalid_amount",
             "then":"again","else":"done"},
            {"id":"again","type":"send_message","text":"That amount won't work (<<amountProblem>>).","next":"ask"},
            {"id":"done","type":"close"}]}"#);
        let (run, _) = step(&w, &RunState::new("k"), Event::Start);
        let (_, effects) = step(&w, &run, Event::VisitorText("49,999"));
        assert_eq!(
            says(&effects),
            vec![
                "That amount won't work (commas are not accepted; use a dot for decimals and no thousands separators, like 1000.50).",
                "How much?"
            ]
        );
    }

    #[test]
    fn an_invalid_variable_amount_never_orders_a_payment() {
        let w = shop();
        let (run, effects) = step(&w, &started(&w), Event::VisitorText("49,999"));
        assert!(!effects.iter().any(|e| matches!(e, Effect::CreatePayment(_))));
        assert!(
            effects.contains(&Effect::RequestRefused {
                node: "pay".into(),
                reason: "invalid_amount"
            }),
            "the request is counted: {effects:?}"
        );
        assert_eq!(run.vars["paymentStatus"], "invalid_amount");
        let said = says(&effects);
        assert!(
            said[0].starts_with("Sorry, I can't request a payment of '49,999': commas are not accepted"),
            "{said:?}"
        );
        assert_eq!(said[1], "Not paid: invalid_amount");
        assert_eq!(run.payments_made, 0);
    }

    #[test]
    fn a_stripe_failure_sets_error_and_goes_on() {
        let w = shop();
        let (run, _) = step(&w, &started(&w), Event::VisitorText("49.99"));
        let (run, effects) = step(
            &w,
            &run,
            Event::PaymentNotOpened {
                payment: "pay_k1_1",
                unavailable: false,
            },
        );
        assert_eq!(run.vars["paymentStatus"], "error");
        let said = says(&effects);
        assert!(said[0].contains("couldn't create a payment link"), "{said:?}");
        assert_eq!(said[1], "Not paid: error");
    }

    #[test]
    fn payments_that_cannot_work_hand_the_visitor_to_a_person() {
        let w = shop();
        let (run, _) = step(&w, &started(&w), Event::VisitorText("49.99"));
        let (run, effects) = step(
            &w,
            &run,
            Event::PaymentNotOpened {
                payment: "pay_k1_1",
                unavailable: true,
            },
        );
        assert_eq!(says(&effects), vec![SAY_PAYMENTS_UNAVAILABLE]);
        assert!(effects.contains(&Effect::Handoff));
        assert_eq!(
            (run.status, run.vars["paymentStatus"].as_str()),
            (RunStatus::WaitingAgent, "error")
        );
        // Handed back: the workflow goes on after the node, with `error`.
        let (_, effects) = step(&w, &run, Event::AgentHandBack);
        assert_eq!(says(&effects), vec!["Not paid: error"]);
    }

    #[test]
    fn a_fixed_amount_orders_at_once_and_a_retry_gets_a_new_payment_id() {
        let w = wf(r#"{"format":1,"start":"pay","nodes":[
            {"id":"pay","type":"request_payment","amount":{"fixed":"500"},"currency":"JPY","description":"Tea",
             "lifetime_minutes":60,"success_url":"https://shop.example/ok","next":"again"},
            {"id":"again","type":"ask","text":"Retry?","variable":"r","next":"pay"}]}"#);
        let (run, effects) = step(&w, &RunState::new("k"), Event::Start);
        let o = order(&effects);
        assert_eq!(
            (o.amount_minor, o.currency.as_str(), o.lifetime_minutes),
            (500, "JPY", 60)
        );
        assert_eq!(o.success_url.as_deref(), Some("https://shop.example/ok"));
        let (run, _) = step(
            &w,
            &run,
            Event::PaymentResolved {
                payment: "pay_k_1",
                status: PaymentStatus::Expired,
            },
        );
        let (run, effects) = step(&w, &run, Event::VisitorText("yes"));
        assert_eq!(order(&effects).id, "pay_k_2");
        assert_eq!(run.payments_made, 2);
    }

    #[test]
    fn a_run_cannot_mint_payment_links_without_end() {
        let w = wf(r#"{"format":1,"start":"pay","nodes":[
            {"id":"pay","type":"request_payment","amount":{"fixed":"5"},"description":"x","next":"again"},
            {"id":"again","type":"ask","text":"Again?","variable":"r","next":"pay"}]}"#);
        let (mut run, _) = step(&w, &RunState::new("k"), Event::Start);
        for n in 1..MAX_PAYMENTS_PER_RUN {
            let payment = format!("pay_k_{n}");
            run = step(
                &w,
                &run,
                Event::PaymentResolved {
                    payment: &payment,
                    status: PaymentStatus::Expired,
                },
            )
            .0;
            let (next, effects) = step(&w, &run, Event::VisitorText("yes"));
            assert!(
                effects.iter().any(|e| matches!(e, Effect::CreatePayment(_))),
                "link {}",
                n + 1
            );
            run = next;
        }
        let last = format!("pay_k_{MAX_PAYMENTS_PER_RUN}");
        run = step(
            &w,
            &run,
            Event::PaymentResolved {
                payment: &last,
                status: PaymentStatus::Expired,
            },
        )
        .0;
        let (run, effects) = step(&w, &run, Event::VisitorText("yes"));
        assert!(!effects.iter().any(|e| matches!(e, Effect::CreatePayment(_))));
        assert_eq!(says(&effects)[0], SAY_TOO_MANY);
        assert_eq!(run.vars["paymentStatus"], "error");
    }

    #[test]
    fn ask_with_a_pattern_retries_until_it_matches() {
        let w = wf(r#"{"format":1,"start":"ask","nodes":[
            {"id":"ask","type":"ask","text":"Your order number?","variable":"order","pattern":"[0-9]{4}",
             "retry_text":"Four digits please, like 1234.","next":"ok"},
            {"id":"ok","type":"send_message","text":"Order <<order>> found."}]}"#);
        let (run, _) = step(&w, &RunState::new("k"), Event::Start);
        let (run, effects) = step(&w, &run, Event::VisitorText("12a4"));
        assert_eq!(says(&effects), vec!["Four digits please, like 1234."]);
        assert_eq!(run.status, RunStatus::WaitingInput);
        let (run, effects) = step(&w, &run, Event::VisitorText("12345"));
        assert_eq!(
            says(&effects),
            vec!["Four digits please, like 1234."],
            "the whole answer must match"
        );
        let (run, effects) = step(&w, &run, Event::VisitorText("1234"));
        assert_eq!(says(&effects), vec!["Order 1234 found."]);
        assert_eq!(run.status, RunStatus::Finished);
    }

    #[test]
    fn set_variable_and_condition_operators() {
        let w = wf(r#"{"format":1,"start":"set","nodes":[
            {"id":"set","type":"set_variable","variable":"n","value":"<<a>>0","next":"c"},
            {"id":"c","type":"condition","variable":"n","operator":"greater_than","value":"9","then":"big","else":"small"},
            {"id":"big","type":"send_message","text":"big <<n>>"},
            {"id":"small","type":"send_message","text":"small <<n>>"}]}"#);
        let mut run = RunState::new("k");
        run.vars.insert("a".into(), "5".into());
        let (_, effects) = step(&w, &run, Event::Start);
        assert_eq!(says(&effects), vec!["big 50"]);

        use Operator::*;
        assert!(compare(" Paid ", Equals, "paid"));
        assert!(compare("paid", NotEquals, "expired"));
        assert!(compare("A new LINK please", Contains, "link"));
        assert!(compare("  ", IsEmpty, ""));
        assert!(!compare("x", IsEmpty, ""));
        assert!(compare("10.5", GreaterThan, "9.99"));
        assert!(compare("3", LessThan, "10"), "numbers, not text");
        assert!(!compare("abc", GreaterThan, "1"));
        assert!(!compare("NaN", LessThan, "1"));
    }

    #[test]
    fn handoff_waits_for_an_agent_and_continues_when_handed_back() {
        let w = wf(r#"{"format":1,"start":"h","nodes":[
            {"id":"h","type":"handoff","next":"after"},
            {"id":"after","type":"send_message","text":"Back with the bot."}]}"#);
        let (run, effects) = step(&w, &RunState::new("k"), Event::Start);
        assert!(effects.contains(&Effect::Handoff));
        assert_eq!(says(&effects), vec![SAY_HANDOFF]);
        assert_eq!(run.status, RunStatus::WaitingAgent);
        let (same, none) = step(&w, &run, Event::VisitorText("hello?"));
        assert_eq!((&same, none.len()), (&run, 0), "visitor messages go to the agent");
        let (run, effects) = step(&w, &run, Event::AgentHandBack);
        assert_eq!(says(&effects), vec!["Back with the bot."]);
        assert_eq!(run.status, RunStatus::Finished);
    }

    #[test]
    fn close_ends_for_good() {
        let w = wf(r#"{"format":1,"start":"c","nodes":[{"id":"c","type":"close"}]}"#);
        let (run, effects) = step(&w, &RunState::new("k"), Event::Start);
        assert_eq!(effects, vec![Effect::Close]);
        assert_eq!(run.status, RunStatus::Finished);
        for event in [Event::VisitorText("hi"), Event::AgentHandBack, Event::Start] {
            assert_eq!(step(&w, &run, event).1, vec![]);
        }
    }

    #[test]
    fn a_workflow_that_runs_out_hands_the_next_message_to_a_person_and_a_hand_back_closes() {
        let w = wf(r#"{"format":1,"start":"a","nodes":[{"id":"a","type":"send_message","text":"Hi"}]}"#);
        let (run, _) = step(&w, &RunState::new("k"), Event::Start);
        assert_eq!(run.status, RunStatus::Finished);
        let (run, effects) = step(&w, &run, Event::VisitorText("hello?"));
        assert_eq!(says(&effects), vec![SAY_HANDOFF]);
        assert!(effects.contains(&Effect::Handoff));
        assert_eq!(run.status, RunStatus::WaitingAgent);
        let (run, effects) = step(&w, &run, Event::AgentHandBack);
        assert_eq!(says(&effects), vec![SAY_ALL_DONE]);
        assert_eq!(effects.last(), Some(&Effect::Close));
        assert_eq!(run.status, RunStatus::Finished);
        // Closed for good: nothing more hands off.
        assert_eq!(step(&w, &run, Event::VisitorText("hi")).1, vec![]);
    }

    #[test]
    fn interpolated_values_are_never_interpolated_again() {
        let w = wf(r#"{"format":1,"start":"a","nodes":[
            {"id":"a","type":"ask","text":"Name?","variable":"name","next":"b"},
            {"id":"b","type":"send_message","text":"Hello <<name>>"}]}"#);
        let (run, _) = step(&w, &RunState::new("k"), Event::Start);
        let (_, effects) = step(&w, &run, Event::VisitorText("<<paymentUrl>> <b>x</b>"));
        assert_eq!(
            says(&effects),
            vec!["Hello <<paymentUrl>> <b>x</b>"],
            "stays text"
        );
    }
}
