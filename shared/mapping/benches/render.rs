//! Mapping throughput: `cargo bench -p zdsync-mapping --bench render`.
//! Typical tickets: 4 comments of a few hundred bytes, 10 custom fields, a
//! CSAT rating, a requester with an organization.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use zdsync_mapping::*;
use zdsync_zendesk::types::*;

const N: usize = 1000;

fn fields() -> Vec<TicketField> {
    (1..=10)
        .map(|i| TicketField {
            id: i,
            field_type: [
                "tagger",
                "multiselect",
                "integer",
                "decimal",
                "checkbox",
                "date",
                "text",
                "textarea",
                "tagger",
                "text",
            ][(i - 1) as usize]
                .into(),
            title: format!("Field {i}"),
            active: true,
            custom_field_options: (0..20)
                .map(|o| FieldOption {
                    id: None,
                    name: format!("Option {o}"),
                    value: format!("opt_{o}"),
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

fn ticket(id: u64) -> Ticket {
    let values = [
        json!("opt_3"),
        json!(["opt_1", "opt_2"]),
        json!("42"),
        json!("3.5"),
        json!(true),
        json!("2024-01-02"),
        json!("some text"),
        json!("longer text here"),
        json!("opt_7"),
        Value::Null,
    ];
    Ticket {
        id,
        subject: Some(format!("Ticket {id} about exports")),
        status: TicketStatus::Open,
        created_at: Some("2023-05-14T09:15:00Z".into()),
        updated_at: Some("2023-05-15T10:00:00Z".into()),
        requester_id: Some(1000 + id % 300),
        via: Some(Via {
            channel: "email".into(),
            source: Value::Null,
        }),
        custom_fields: values
            .iter()
            .enumerate()
            .map(|(i, v)| CustomFieldValue {
                id: i as u64 + 1,
                value: v.clone(),
            })
            .collect(),
        satisfaction_rating: Some(SatisfactionRating {
            score: "bad".into(),
            comment: Some("slow".into()),
            reason_id: Some(7),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn comments(id: u64, html: bool) -> Vec<Comment> {
    (0..4)
        .map(|i| {
            let text = format!("Hello, this is message {i} of ticket {id}. The export of our monthly report takes far too long and times out when we include attachments; could you look into it?\nThanks, Ana");
            Comment {
                id: id * 10 + i,
                author_id: Some(if i % 2 == 0 { (1000 + id % 300) as i64 } else { 7 }),
                plain_body: if html { None } else { Some(text.clone()) },
                html_body: Some(format!("<div class=\"zd-comment\" dir=\"auto\"><p>{}</p></div>", text.replace('\n', "<br>"))),
                public: true,
                created_at: Some(format!("2023-05-14T10:0{i}:00Z")),
                ..Default::default()
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let catalog = FieldCatalog::new(fields());
    let mut users = HashMap::new();
    for id in 1000..1300u64 {
        users.insert(
            id,
            User {
                id: Some(id),
                name: Some(format!("Customer {id}")),
                role: Role::EndUser,
                organization_id: Some(5),
                tags: vec!["vip".into()],
                ..Default::default()
            },
        );
    }
    users.insert(
        7,
        User {
            id: Some(7),
            name: Some("Agent".into()),
            role: Role::Agent,
            ..Default::default()
        },
    );
    let orgs = HashMap::from([(
        5,
        Organization {
            id: 5,
            name: Some("Acme".into()),
            ..Default::default()
        },
    )]);
    let reasons = HashMap::from([(7, "Too slow".to_string())]);
    let ctx = RenderContext {
        connection: "acme",
        subdomain: "acme",
        fields: &catalog,
        reasons: &reasons,
        users: &users,
        organizations: &orgs,
    };
    let tickets: Vec<Ticket> = (0..N as u64).map(ticket).collect();
    let plain: Vec<Vec<Comment>> = (0..N as u64).map(|i| comments(i, false)).collect();
    let html: Vec<Vec<Comment>> = (0..N as u64).map(|i| comments(i, true)).collect();
    let entries: Vec<Vec<ConversationEntry>> = plain
        .iter()
        .map(|cs| cs.iter().flat_map(conversation_entries).collect())
        .collect();

    let mut g = c.benchmark_group("mapping");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("render+serialize (entries stored)", |b| {
        b.iter(|| {
            for (t, e) in tickets.iter().zip(&entries) {
                let d = render(&ctx, t, e);
                black_box(serde_json::to_string(&d).ok());
            }
        })
    });
    g.bench_function("comments(plain_body)+render+serialize", |b| {
        b.iter(|| {
            for (t, cs) in tickets.iter().zip(&plain) {
                let e: Vec<ConversationEntry> = cs.iter().flat_map(conversation_entries).collect();
                black_box(serde_json::to_string(&render(&ctx, t, &e)).ok());
            }
        })
    });
    g.bench_function("comments(html_body)+render+serialize", |b| {
        b.iter(|| {
            for (t, cs) in tickets.iter().zip(&html) {
                let e: Vec<ConversationEntry> = cs.iter().flat_map(conversation_entries).collect();
                black_box(serde_json::to_string(&render(&ctx, t, &e)).ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
