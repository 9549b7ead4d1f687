//! The mail sender port over the runtime: Cloudflare's `send_email` binding (Email Service, with a
//! text and an HTML part), or an HTTP mail API (`POST` JSON with a bearer token), which is also
//! what development and the tests point at a local capture.

use super::adapters::FetchClient;
use crate::accounts::config::{MailConfig, MailSenderKind};
use crate::ports::{HttpClient, Mailer, Method, OutboundMail, OutboundRequest, Unavailable};
use worker::{Env, SendEmailBuilder};

/// How long the `send_email` binding may take to accept a message.
const SEND_TIMEOUT_MS: u64 = 10_000;

/// Sends mail the way the configuration says.
pub struct WorkerMailer<'a> {
    /// The runtime environment (bindings and secrets).
    pub env: &'a Env,
    /// The mail settings.
    pub config: &'a MailConfig,
}

impl Mailer for WorkerMailer<'_> {
    async fn send(&self, mail: &OutboundMail) -> Result<(), Unavailable> {
        let sender = &self.config.sender;
        match (sender.kind, &sender.binding, &sender.url) {
            (MailSenderKind::SendEmail, Some(binding), _) => {
                let sender = self.env.send_email(binding).map_err(Unavailable::because)?;
                let message = SendEmailBuilder::builder(&self.config.from, &mail.to, &mail.subject)
                    .text(&mail.text)
                    .html(&mail.html)
                    .build();
                match super::deadline::within(SEND_TIMEOUT_MS, sender.send_with_builder(&message)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(error)) => Err(Unavailable(format!("send_email: {error:?}"))),
                    Err(timed_out) => Err(Unavailable(format!("send_email: {timed_out}"))),
                }
            }
            (MailSenderKind::Http, _, Some(url)) => {
                let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
                if let Some(name) = &sender.token_secret {
                    let token =
                        self.env.secret(name).map_err(|_| Unavailable(format!("mail token {name} is not set")))?;
                    headers.push(("authorization".into(), format!("Bearer {token}")));
                }
                let body = serde_json::json!({
                    "from": self.config.from,
                    "to": mail.to,
                    "subject": mail.subject,
                    "text": mail.text,
                    "html": mail.html,
                });
                let request =
                    OutboundRequest { method: Method::Post, url: url.clone(), headers, body: Some(body.to_string()) };
                match FetchClient.send(request).await? {
                    answer if (200..300).contains(&answer.status) => Ok(()),
                    answer => Err(Unavailable(format!("mail API answered {}", answer.status))),
                }
            }
            // The configuration refuses every other shape.
            _ => Err(Unavailable("mail sender misconfigured".into())),
        }
    }
}
