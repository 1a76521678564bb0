//! Custom fields by title, typed (RULES.md "Custom fields").

use std::collections::{BTreeMap, HashMap};

use serde_json::{Number, Value};
use zdsync_zendesk::types::{CustomFieldValue, TicketField};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dropdown,
    Multiselect,
    Integer,
    Decimal,
    Checkbox,
    Date,
    Other,
}

#[derive(Debug, Clone)]
struct Field {
    title: String,
    kind: Kind,
    /// option value → option name
    options: HashMap<String, String>,
}

/// Ticket fields by id, with display titles resolved once (duplicates get
/// `"{title} ({id})"`, the lowest id keeping the plain title).
#[derive(Debug, Clone, Default)]
pub struct FieldCatalog {
    by_id: HashMap<u64, Field>,
}

impl FieldCatalog {
    pub fn new(mut fields: Vec<TicketField>) -> Self {
        fields.sort_by_key(|f| f.id);
        let mut taken: HashMap<String, u64> = HashMap::new();
        let mut by_id = HashMap::with_capacity(fields.len());
        for f in fields {
            let title = if taken.contains_key(&f.title) {
                format!("{} ({})", f.title, f.id)
            } else {
                taken.insert(f.title.clone(), f.id);
                f.title.clone()
            };
            let kind = match f.field_type.as_str() {
                "tagger" => Kind::Dropdown,
                "multiselect" => Kind::Multiselect,
                "integer" => Kind::Integer,
                "decimal" => Kind::Decimal,
                "checkbox" => Kind::Checkbox,
                "date" => Kind::Date,
                _ => Kind::Other,
            };
            let options = f
                .custom_field_options
                .into_iter()
                .map(|o| (o.value, o.name))
                .collect();
            by_id.insert(
                f.id,
                Field {
                    title,
                    kind,
                    options,
                },
            );
        }
        FieldCatalog { by_id }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The `properties.fields` of a ticket.
    pub fn map(&self, values: &[CustomFieldValue]) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for v in values {
            let Some(field) = self.by_id.get(&v.id) else {
                continue; // not in ticket_fields: left out
            };
            if is_empty(&v.value) {
                continue;
            }
            if let Some(typed) = field.typed(&v.value) {
                out.insert(field.title.clone(), typed);
            }
        }
        out
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Field {
    fn option_name(&self, raw: &Value) -> Value {
        let key = as_text(raw);
        match self.options.get(&key) {
            Some(name) => Value::String(name.clone()),
            None => raw.clone(),
        }
    }

    fn typed(&self, v: &Value) -> Option<Value> {
        Some(match self.kind {
            Kind::Dropdown => self.option_name(v),
            Kind::Multiselect => match v {
                Value::Array(items) => {
                    let names: Vec<Value> = items
                        .iter()
                        .filter(|i| !is_empty(i))
                        .map(|i| self.option_name(i))
                        .collect();
                    if names.is_empty() {
                        return None;
                    }
                    Value::Array(names)
                }
                single => Value::Array(vec![self.option_name(single)]),
            },
            Kind::Integer => match v {
                Value::Number(_) => v.clone(),
                Value::String(s) => match s.trim().parse::<i64>() {
                    Ok(n) => Value::Number(n.into()),
                    Err(_) => v.clone(),
                },
                _ => v.clone(),
            },
            Kind::Decimal => match v {
                Value::Number(_) => v.clone(),
                Value::String(s) => match s.trim().parse::<f64>().ok().and_then(Number::from_f64) {
                    Some(n) => Value::Number(n),
                    None => v.clone(),
                },
                _ => v.clone(),
            },
            Kind::Checkbox => match v {
                Value::Bool(_) => v.clone(),
                Value::String(s) => match s.trim() {
                    "true" | "1" => Value::Bool(true),
                    "false" | "0" => Value::Bool(false),
                    _ => v.clone(),
                },
                Value::Number(n) => Value::Bool(n.as_f64().is_some_and(|x| x != 0.0)),
                _ => v.clone(),
            },
            Kind::Date => match v {
                Value::String(s) if s.len() >= 10 && s.is_char_boundary(10) => {
                    Value::String(s[..10].to_string())
                }
                _ => v.clone(),
            },
            Kind::Other => v.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use zdsync_zendesk::types::FieldOption;

    fn field(id: u64, t: &str, title: &str, opts: &[(&str, &str)]) -> TicketField {
        TicketField {
            id,
            field_type: t.into(),
            title: title.into(),
            active: true,
            custom_field_options: opts
                .iter()
                .map(|(v, n)| FieldOption {
                    id: None,
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn cat() -> FieldCatalog {
        FieldCatalog::new(vec![
            field(
                1,
                "tagger",
                "Product area",
                &[
                    ("integrations", "Integrations"),
                    ("hw_laptop", "Hardware::Laptop"),
                ],
            ),
            field(
                2,
                "multiselect",
                "Platforms",
                &[("ios", "iOS"), ("android", "Android")],
            ),
            field(3, "integer", "Items in order", &[]),
            field(4, "decimal", "Amount", &[]),
            field(5, "checkbox", "Refund requested", &[]),
            field(6, "date", "Due", &[]),
            field(7, "text", "Notes", &[]),
            TicketField {
                active: false,
                ..field(8, "text", "Old field", &[])
            },
            field(10, "text", "Notes", &[]),
            field(11, "lookup", "Related", &[]),
        ])
    }

    fn v(id: u64, value: Value) -> CustomFieldValue {
        CustomFieldValue { id, value }
    }

    #[test]
    fn every_type_is_typed_by_title() {
        let got = cat().map(&[
            v(1, json!("hw_laptop")),
            v(2, json!(["ios", "android"])),
            v(3, json!("6")),
            v(4, json!("12.50")),
            v(5, json!(false)),
            v(6, json!("2024-03-01T00:00:00Z")),
            v(7, json!("free text")),
            v(8, json!("still mapped")),
            v(10, json!("second notes")),
            v(11, json!(12345)),
        ]);
        assert_eq!(
            Value::Object(got.into_iter().collect()),
            json!({
                "Product area": "Hardware::Laptop", "Platforms": ["iOS", "Android"],
                "Items in order": 6, "Amount": 12.5, "Refund requested": false,
                "Due": "2024-03-01", "Notes": "free text", "Old field": "still mapped",
                "Notes (10)": "second notes", "Related": 12345
            })
        );
    }

    #[test]
    fn unknown_ids_empty_values_and_unknown_options() {
        let got = cat().map(&[
            v(99, json!("x")),
            v(7, json!("")),
            v(2, json!([])),
            v(3, Value::Null),
            v(1, json!("no_such_option")),
            v(2, json!(["ios", "legacy_os"])),
            v(3, json!("six")),
            v(5, json!("1")),
        ]);
        assert_eq!(
            Value::Object(got.into_iter().collect()),
            json!({"Product area": "no_such_option", "Platforms": ["iOS", "legacy_os"],
                   "Items in order": "six", "Refund requested": true})
        );
    }
}
