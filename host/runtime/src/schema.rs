//! A job type's payload schema, compiled once; every problem it finds names its field.

use serde_json::Value;

/// A compiled JSON Schema for payloads.
pub struct PayloadSchema {
    schema: Value,
    validator: jsonschema::Validator,
}

impl PayloadSchema {
    pub fn compile(schema: Value) -> Result<PayloadSchema, String> {
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("not a valid JSON Schema: {e}"))?;
        Ok(PayloadSchema { schema, validator })
    }

    /// Compiles a schema given as a JSON document.
    pub fn parse(text: &str) -> Result<PayloadSchema, String> {
        let schema = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        PayloadSchema::compile(schema)
    }

    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// The first few problems, each as "field `/path`: what is wrong" (`(root)` for
    /// the payload itself), joined with "; ".
    pub fn check(&self, payload: &Value) -> Result<(), String> {
        let problems: Vec<String> = self
            .validator
            .iter_errors(payload)
            .take(5)
            .map(|e| {
                let path = e.instance_path().to_string();
                let field = if path.is_empty() {
                    "(root)".to_string()
                } else {
                    path
                };
                format!("field `{field}`: {e}")
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}
