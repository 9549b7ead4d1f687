//! SCIM filters as SQL `WHERE` clauses for the directory's SQLite (D1) tables. Every value is a
//! bound parameter: no byte of a filter's values ever becomes SQL text, whatever it holds.

use super::filter::{AttrPath, CompValue, CompareOp, Filter, FilterError};

/// The core User schema, which unqualified paths belong to.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:user";
/// The core Group schema, which may qualify a Group's paths.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:group";

/// How a column compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Text compared without regard to case (`userName`, emails: SCIM `caseExact: false`).
    Text,
    /// Text compared exactly (`id`, `externalId`).
    ExactText,
    /// `active`: a status column that is `'active'` or not.
    Active,
}

/// One filterable attribute: its lower-cased path, its column and how it compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The attribute path, lower-cased (`username`, `emails.value`).
    pub attribute: &'static str,
    /// The SQL column (a fixed identifier, never from input).
    pub column: &'static str,
    /// How it compares.
    pub kind: ColumnKind,
}

/// A parameter bound to a `?`.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// Text.
    Text(String),
}

/// A `WHERE` clause and its parameters, in the order of its `?`s.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// The SQL.
    pub sql: String,
    /// The parameters.
    pub params: Vec<SqlValue>,
}

fn column_for<'c>(path: &AttrPath, prefix: Option<&str>, columns: &'c [Column]) -> Result<&'c Column, FilterError> {
    let core = |schema: &str| schema.eq_ignore_ascii_case(USER_SCHEMA) || schema.eq_ignore_ascii_case(GROUP_SCHEMA);
    if path.schema.as_deref().is_some_and(|schema| !core(schema)) {
        return Err(FilterError(format!("{path} is not an attribute of this resource")));
    }
    let name = match (prefix, &path.sub) {
        (Some(parent), None) => format!("{parent}.{}", path.name),
        (Some(_), Some(_)) => return Err(FilterError(format!("{path} is not an attribute of this resource"))),
        (None, Some(sub)) => format!("{}.{sub}", path.name),
        (None, None) => path.name.clone(),
    };
    // A multi-valued attribute named alone stands for its value (`emails` is `emails.value`).
    let value_of = format!("{name}.value");
    columns
        .iter()
        .find(|c| c.attribute == name || c.attribute == value_of)
        .ok_or_else(|| FilterError(format!("{path} cannot be filtered on")))
}

/// `text` for a `LIKE ... ESCAPE '\'` pattern: `%`, `_` and `\` match only themselves.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

struct Builder<'c> {
    columns: &'c [Column],
    sql: String,
    params: Vec<SqlValue>,
    /// Under `not`, a comparison with a missing (NULL) attribute must be false, not NULL: SQL's
    /// `NOT NULL` is NULL, which would drop the row SCIM says matches.
    negated: bool,
}

impl Builder<'_> {
    fn bind(&mut self, value: String) {
        self.params.push(SqlValue::Text(value));
    }

    fn filter(&mut self, filter: &Filter, prefix: Option<&str>) -> Result<(), FilterError> {
        match filter {
            Filter::And(left, right) | Filter::Or(left, right) => {
                let joiner = if matches!(filter, Filter::And(..)) { " AND " } else { " OR " };
                self.sql.push('(');
                self.filter(left, prefix)?;
                self.sql.push_str(joiner);
                self.filter(right, prefix)?;
                self.sql.push(')');
            }
            Filter::Not(inner) => {
                let outer = self.negated;
                self.negated = true;
                self.sql.push_str("NOT (");
                self.filter(inner, prefix)?;
                self.sql.push(')');
                self.negated = outer;
            }
            Filter::ValuePath(path, inner) => {
                if prefix.is_some() || path.schema.is_some() {
                    return Err(FilterError(format!("{path}[...] cannot be filtered on")));
                }
                self.filter(inner, Some(&path.name))?;
            }
            Filter::Present(path) => {
                let column = column_for(path, prefix, self.columns)?;
                let sql = match column.kind {
                    ColumnKind::Active => "1 = 1".to_owned(),
                    _ => format!("({c} IS NOT NULL AND {c} <> '')", c = column.column),
                };
                self.sql.push_str(&sql);
            }
            Filter::Compare(path, op, value) => {
                let start = self.sql.len();
                self.compare(path, prefix, *op, value)?;
                if self.negated {
                    let leaf = self.sql.split_off(start);
                    self.sql.push_str(&format!("IFNULL({leaf}, 0)"));
                }
            }
        }
        Ok(())
    }

    fn compare(
        &mut self,
        path: &AttrPath,
        prefix: Option<&str>,
        op: CompareOp,
        value: &CompValue,
    ) -> Result<(), FilterError> {
        let column = *column_for(path, prefix, self.columns)?;
        let c = column.column;
        if column.kind == ColumnKind::Active {
            let CompValue::Bool(active) = value else {
                return Err(FilterError(format!("{path} compares with true or false")));
            };
            let sql = match (op, active) {
                (CompareOp::Eq, true) | (CompareOp::Ne, false) => format!("{c} = 'active'"),
                (CompareOp::Eq, false) | (CompareOp::Ne, true) => format!("{c} <> 'active'"),
                _ => return Err(FilterError(format!("{path} supports only eq and ne"))),
            };
            self.sql.push_str(&sql);
            return Ok(());
        }
        let CompValue::Str(text) = value else {
            return Err(FilterError(format!("{path} compares with a string")));
        };
        let exact = column.kind == ColumnKind::ExactText;
        let collate = if exact { "" } else { " COLLATE NOCASE" };
        let sql = match op {
            CompareOp::Eq => format!("{c} = ?{collate}"),
            CompareOp::Ne => format!("({c} IS NULL OR {c} <> ?{collate})"),
            CompareOp::Gt => format!("{c} > ?{collate}"),
            CompareOp::Ge => format!("{c} >= ?{collate}"),
            CompareOp::Lt => format!("{c} < ?{collate}"),
            CompareOp::Le => format!("{c} <= ?{collate}"),
            // LIKE ignores ASCII case in SQLite: right for caseExact false. Exact columns use
            // instr and substr, which compare bytes.
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew if !exact => {
                let pattern = match op {
                    CompareOp::Co => format!("%{}%", like_escaped(text)),
                    CompareOp::Sw => format!("{}%", like_escaped(text)),
                    _ => format!("%{}", like_escaped(text)),
                };
                self.sql.push_str(&format!("{c} LIKE ? ESCAPE '\\'"));
                self.bind(pattern);
                return Ok(());
            }
            CompareOp::Co => format!("instr({c}, ?) > 0"),
            CompareOp::Sw => format!("instr({c}, ?) = 1"),
            CompareOp::Ew => {
                // substr(x, -0) is all of x: the empty suffix is handled apart.
                self.sql.push_str(&format!("({c} IS NOT NULL AND (? = '' OR substr({c}, -length(?)) = ?))"));
                self.bind(text.clone());
                self.bind(text.clone());
                self.bind(text.clone());
                return Ok(());
            }
        };
        self.sql.push_str(&sql);
        self.bind(text.clone());
        Ok(())
    }
}

/// The `WHERE` clause for `filter` over `columns`; an attribute not among them is refused.
pub fn where_clause(filter: &Filter, columns: &[Column]) -> Result<Clause, FilterError> {
    let mut builder = Builder { columns, sql: String::new(), params: Vec::new(), negated: false };
    builder.filter(filter, None)?;
    Ok(Clause { sql: builder.sql, params: builder.params })
}

/// The filterable attributes of SCIM Users in the directory's `users` table.
pub const USER_COLUMNS: &[Column] = &[
    Column { attribute: "id", column: "id", kind: ColumnKind::ExactText },
    Column { attribute: "externalid", column: "external_id", kind: ColumnKind::ExactText },
    Column { attribute: "username", column: "user_name", kind: ColumnKind::Text },
    Column { attribute: "displayname", column: "name", kind: ColumnKind::Text },
    Column { attribute: "emails.value", column: "email", kind: ColumnKind::Text },
    Column { attribute: "active", column: "status", kind: ColumnKind::Active },
];

/// The filterable attributes of SCIM Groups in the directory's `scim_groups` table.
pub const GROUP_COLUMNS: &[Column] = &[
    Column { attribute: "id", column: "id", kind: ColumnKind::ExactText },
    Column { attribute: "displayname", column: "display_name", kind: ColumnKind::Text },
    Column { attribute: "externalid", column: "external_id", kind: ColumnKind::ExactText },
];

#[cfg(test)]
mod tests;
