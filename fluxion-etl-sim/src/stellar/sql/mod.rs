//! T-SQL as the simulator understands it: batches are tokenized and parsed with `sqlparser`'s MS SQL
//! dialect, statements run one after the other, and SELECTs are bound to the simulated tables and
//! executed by [`exec::QueryCursor`].
//!
//! What is modelled: SELECT with column lists, aliases and `*`; INNER/LEFT/CROSS JOIN with ON;
//! WHERE with comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, IS [NOT] NULL; CASE; CAST/CONVERT; DATETIME
//! arithmetic; ISNULL/COALESCE/NULLIF, string and date functions; GROUP BY with COUNT/SUM/MIN/MAX/AVG
//! and HAVING; DISTINCT; ORDER BY (names, aliases, positions); TOP; OFFSET … FETCH; parameters.
//! SET and USE are answered as SQL Server does; other statements get a plain DONE. Subqueries, CTEs,
//! UNION, window functions and RIGHT/FULL joins are refused with error 50000 saying so, never answered
//! wrongly.

pub(crate) mod catalog;
pub(crate) mod error;
pub(crate) mod exec;
pub(crate) mod expr;
pub(crate) mod plan;
pub(crate) mod value;

use std::sync::Arc;

use sqlparser::ast::{Statement, Use};
use sqlparser::dialect::MsSqlDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Word};

use self::error::SqlError;
use self::exec::QueryCursor;
use self::plan::{bind_query, BindContext, DeclaredParam};
use self::value::{SqlType, Value};
use crate::stellar::data::SimTables;

/// The version the simulator reports (SQL Server 2019 RTM).
pub(crate) const SERVER_VERSION: &str = "15.0.2000.5";
/// `@@VERSION`.
pub(crate) const SERVER_VERSION_TEXT: &str =
    "Microsoft SQL Server 2019 (RTM) - 15.0.2000.5 (X64) \n\
     \tSep 24 2019 13:48:23 \n\tCopyright (C) 2019 Microsoft Corporation\n\
     \tDeveloper Edition (64-bit) on fluxion-etl-sim (Stellar simulator)\n";

/// Per-connection state.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub database: String,
    pub login_database: String,
    pub user: String,
    pub host: String,
    pub app: String,
    pub spid: u16,
    pub server_name: String,
    pub nocount: bool,
    pub fmtonly: bool,
}

impl Session {
    /// Back to the state right after login (RESETCONNECTION).
    pub fn reset(&mut self) {
        self.database = self.login_database.clone();
        self.nocount = false;
        self.fmtonly = false;
    }
}

/// One statement of a batch.
#[derive(Debug)]
pub(crate) enum ParsedStmt {
    /// SET option(s) ON/OFF/value.
    Set {
        names: Vec<String>,
        value: String,
    },
    Use(String),
    Query(Box<sqlparser::ast::Query>),
    /// Anything else: answered with DONE.
    Other,
}

/// T-SQL reserved keywords: unquoted, they cannot name a table, column or alias.
const RESERVED: &[&str] = &[
    "ADD",
    "ALL",
    "ALTER",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "AUTHORIZATION",
    "BACKUP",
    "BEGIN",
    "BETWEEN",
    "BREAK",
    "BROWSE",
    "BULK",
    "BY",
    "CASCADE",
    "CASE",
    "CHECK",
    "CHECKPOINT",
    "CLOSE",
    "CLUSTERED",
    "COALESCE",
    "COLLATE",
    "COLUMN",
    "COMMIT",
    "COMPUTE",
    "CONSTRAINT",
    "CONTAINS",
    "CONTAINSTABLE",
    "CONTINUE",
    "CONVERT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "CURRENT_USER",
    "CURSOR",
    "DATABASE",
    "DBCC",
    "DEALLOCATE",
    "DECLARE",
    "DEFAULT",
    "DELETE",
    "DENY",
    "DESC",
    "DISK",
    "DISTINCT",
    "DISTRIBUTED",
    "DOUBLE",
    "DROP",
    "DUMP",
    "ELSE",
    "END",
    "ERRLVL",
    "ESCAPE",
    "EXCEPT",
    "EXEC",
    "EXECUTE",
    "EXISTS",
    "EXIT",
    "EXTERNAL",
    "FETCH",
    "FILE",
    "FILLFACTOR",
    "FOR",
    "FOREIGN",
    "FREETEXT",
    "FREETEXTTABLE",
    "FROM",
    "FULL",
    "FUNCTION",
    "GOTO",
    "GRANT",
    "GROUP",
    "HAVING",
    "HOLDLOCK",
    "IDENTITY",
    "IDENTITY_INSERT",
    "IDENTITYCOL",
    "IF",
    "IN",
    "INDEX",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "KEY",
    "KILL",
    "LEFT",
    "LIKE",
    "LINENO",
    "LOAD",
    "MERGE",
    "NATIONAL",
    "NOCHECK",
    "NONCLUSTERED",
    "NOT",
    "NULL",
    "NULLIF",
    "OF",
    "OFF",
    "OFFSETS",
    "ON",
    "OPEN",
    "OPENDATASOURCE",
    "OPENQUERY",
    "OPENROWSET",
    "OPENXML",
    "OPTION",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PERCENT",
    "PIVOT",
    "PLAN",
    "PRECISION",
    "PRIMARY",
    "PRINT",
    "PROC",
    "PROCEDURE",
    "PUBLIC",
    "RAISERROR",
    "READ",
    "READTEXT",
    "RECONFIGURE",
    "REFERENCES",
    "REPLICATION",
    "RESTORE",
    "RESTRICT",
    "RETURN",
    "REVERT",
    "REVOKE",
    "RIGHT",
    "ROLLBACK",
    "ROWCOUNT",
    "ROWGUIDCOL",
    "RULE",
    "SAVE",
    "SCHEMA",
    "SECURITYAUDIT",
    "SELECT",
    "SESSION_USER",
    "SET",
    "SETUSER",
    "SHUTDOWN",
    "SOME",
    "STATISTICS",
    "SYSTEM_USER",
    "TABLE",
    "TABLESAMPLE",
    "TEXTSIZE",
    "THEN",
    "TO",
    "TOP",
    "TRAN",
    "TRANSACTION",
    "TRIGGER",
    "TRUNCATE",
    "TRY_CONVERT",
    "TSEQUAL",
    "UNION",
    "UNIQUE",
    "UNPIVOT",
    "UPDATE",
    "UPDATETEXT",
    "USE",
    "USER",
    "VALUES",
    "VARYING",
    "VIEW",
    "WAITFOR",
    "WHEN",
    "WHERE",
    "WHILE",
    "WITH",
    "WRITETEXT",
];

/// Whether a word is a T-SQL reserved keyword.
pub(crate) fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Words that start a statement (T-SQL needs no semicolons between statements).
const STATEMENT_STARTS: &[&str] = &[
    "SELECT",
    "SET",
    "USE",
    "INSERT",
    "UPDATE",
    "DELETE",
    "WITH",
    "DECLARE",
    "EXEC",
    "EXECUTE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "IF",
    "PRINT",
    "CREATE",
    "DROP",
    "ALTER",
    "TRUNCATE",
    "WHILE",
    "RAISERROR",
    "MERGE",
];

fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(Word { value, quote_style: None, .. }) if value.eq_ignore_ascii_case(w))
}

/// Parses a batch into statements. Syntax errors abort the whole batch, as in SQL Server (nothing of
/// a batch that does not compile runs).
pub(crate) fn parse_batch(sql: &str) -> Result<Vec<ParsedStmt>, SqlError> {
    let dialect = MsSqlDialect {};
    let mut tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| {
            if e.message.to_ascii_lowercase().contains("unterminated") {
                let rest = sql.rsplit('\'').next().unwrap_or("");
                SqlError::unclosed_quote(rest).at_line(e.location.line)
            } else {
                SqlError::syntax(e.message.split_whitespace().last().unwrap_or(""))
                    .at_line(e.location.line)
            }
        })?;
    rewrite_fetch_variables(&mut tokens);
    let significant: Vec<&TokenWithSpan> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .collect();
    let last_token = significant
        .last()
        .map(|t| (token_text(&t.token), t.span.start.line));

    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens.clone());
    let mut out = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let next = parser.peek_token();
        if next.token == Token::EOF {
            break;
        }
        if is_word(&next.token, "SET") {
            out.push(parse_set(&mut parser));
            continue;
        }
        let stmt = parser
            .parse_statement()
            .map_err(|e| parse_error(&e, last_token.as_ref()))?;
        out.push(match stmt {
            Statement::Query(q) => ParsedStmt::Query(q),
            Statement::Use(u) => ParsedStmt::Use(match u {
                Use::Object(name)
                | Use::Database(name)
                | Use::Catalog(name)
                | Use::Schema(name) => name
                    .0
                    .last()
                    .map(|p| p.to_string())
                    .unwrap_or_default()
                    .trim_matches(['[', ']'])
                    .to_owned(),
                other => other.to_string(),
            }),
            _ => ParsedStmt::Other,
        });
    }
    Ok(out)
}

/// `FETCH NEXT @P2 ROWS ONLY` is valid T-SQL, but sqlparser only accepts a literal there: the
/// variable is turned into a placeholder token, which it does accept.
fn rewrite_fetch_variables(tokens: &mut [TokenWithSpan]) {
    let positions: Vec<usize> = (0..tokens.len())
        .filter(|&i| is_word(&tokens[i].token, "FETCH"))
        .collect();
    for p in positions {
        let mut i = p + 1;
        let mut seen_next = false;
        while i < tokens.len() {
            match &tokens[i].token {
                Token::Whitespace(_) => {}
                t if !seen_next && (is_word(t, "NEXT") || is_word(t, "FIRST")) => seen_next = true,
                Token::Word(w) if seen_next && w.value.starts_with('@') => {
                    tokens[i].token = Token::Placeholder(w.value.clone());
                    break;
                }
                _ => break,
            }
            i += 1;
        }
    }
}

fn parse_set(parser: &mut Parser<'_>) -> ParsedStmt {
    parser.next_token(); // SET
    let mut words = Vec::new();
    loop {
        let t = parser.peek_token();
        match &t.token {
            Token::EOF | Token::SemiColon => break,
            tok if STATEMENT_STARTS.iter().any(|s| is_word(tok, s)) && !words.is_empty() => break,
            tok => {
                let text = token_text(tok);
                if !matches!(tok, Token::Comma) {
                    words.push(text);
                }
                parser.next_token();
            }
        }
    }
    let value = words.last().cloned().unwrap_or_default();
    let names = if words.len() > 1 {
        words[..words.len() - 1].to_vec()
    } else {
        words
    };
    ParsedStmt::Set { names, value }
}

fn token_text(t: &Token) -> String {
    match t {
        Token::Word(w) => w.value.clone(),
        other => other.to_string(),
    }
}

/// Maps a sqlparser error to SQL Server's 102 ("Incorrect syntax near 'x'") or, for a reserved
/// keyword, 156.
fn parse_error(e: &ParserError, last: Option<&(String, u64)>) -> SqlError {
    let text = match e {
        ParserError::ParserError(s) | ParserError::TokenizerError(s) => s.clone(),
        ParserError::RecursionLimitExceeded => {
            return SqlError::custom(
                191,
                15,
                1,
                "Some part of your SQL statement is nested too deeply.".to_owned(),
            )
        }
    };
    let found = text.split("found: ").nth(1).unwrap_or("");
    let (token, line) = match found.find(" at Line: ") {
        Some(i) => {
            let line = found[i + 10..]
                .split(',')
                .next()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(1);
            (found[..i].to_owned(), line)
        }
        None => (found.trim().to_owned(), 1),
    };
    if token.is_empty() || token == "EOF" {
        return match last {
            Some((t, l)) if is_reserved(t) => {
                SqlError::syntax_keyword(&t.to_ascii_uppercase()).at_line(*l)
            }
            Some((t, l)) => SqlError::syntax(t).at_line(*l),
            None => SqlError::syntax("").at_line(1),
        };
    }
    let bare = token.trim_matches(['[', ']', '"']);
    if is_reserved(bare) && !token.starts_with('[') {
        SqlError::syntax_keyword(&bare.to_ascii_uppercase()).at_line(line)
    } else {
        SqlError::syntax(bare).at_line(line)
    }
}

/// Parses sp_executesql's parameter declaration (`@P1 nvarchar(4000),@P2 int OUTPUT`).
pub(crate) fn parse_declarations(text: &str) -> Result<Vec<DeclaredParam>, SqlError> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    let mut pieces = Vec::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            pieces.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    pieces.push(current);
    for piece in pieces {
        let p = piece.trim();
        if p.is_empty() {
            continue;
        }
        let (name, rest) = p
            .split_once(char::is_whitespace)
            .ok_or_else(|| SqlError::syntax(p))?;
        if !name.starts_with('@') {
            return Err(SqlError::syntax(name));
        }
        let mut ty = rest.trim();
        for suffix in ["OUTPUT", "OUT", "READONLY"] {
            if ty.len() > suffix.len() && ty[ty.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            {
                ty = ty[..ty.len() - suffix.len()].trim();
            }
        }
        let ty = ty.split('=').next().unwrap_or(ty).trim();
        let ty = ty
            .strip_prefix("AS ")
            .or_else(|| ty.strip_prefix("as "))
            .unwrap_or(ty);
        out.push(DeclaredParam {
            name: name.to_owned(),
            ty: value::parse_type_name(ty)?,
        });
    }
    Ok(out)
}

/// Binds and prepares a SELECT for execution.
pub(crate) fn prepare_query(
    query: &sqlparser::ast::Query,
    session: &Session,
    params: &[DeclaredParam],
    values: Vec<Value<'static>>,
    tables: &Arc<SimTables>,
) -> Result<QueryCursor, Vec<SqlError>> {
    let cx = BindContext {
        session,
        params,
        values: &values,
        tables,
    };
    let plan = bind_query(query, &cx)?;
    Ok(QueryCursor::new(plan, values, Arc::clone(tables)))
}

/// The depots a prepared query reads (for per-depot faults).
pub(crate) use self::plan::DepotTouch;

/// Converts parameter values to their declared types (SQL Server converts on the way in).
pub(crate) fn convert_params(
    declared: &[DeclaredParam],
    supplied: Vec<(Option<String>, SqlType, Value<'static>)>,
    statement: &str,
    declaration: &str,
) -> Result<Vec<Value<'static>>, SqlError> {
    let mut values: Vec<Option<Value<'static>>> = vec![None; declared.len()];
    let mut positional = 0usize;
    for (name, ty, v) in supplied {
        let idx = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = if n.starts_with('@') {
                    n
                } else {
                    format!("@{n}")
                };
                declared
                    .iter()
                    .position(|d| d.name.eq_ignore_ascii_case(&n))
                    .ok_or_else(|| {
                        SqlError::custom(
                            8145,
                            16,
                            2,
                            format!("{n} is not a parameter for procedure sp_executesql."),
                        )
                    })?
            }
            None => {
                let i = positional;
                positional += 1;
                if i >= declared.len() {
                    return Err(SqlError::too_many_arguments("sp_executesql"));
                }
                i
            }
        };
        values[idx] = Some(value::cast(v, ty, declared[idx].ty)?.into_static());
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| {
                SqlError::custom(
                    8178,
                    16,
                    1,
                    format!(
                        "The parameterized query '({declaration}){}' expects the parameter '{}', which was not supplied.",
                        statement.chars().take(60).collect::<String>(),
                        declared[i].name
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_without_semicolons_are_split() {
        let s = parse_batch("SET NOCOUNT ON SELECT 1 AS a USE [VAD20]; SELECT 2").unwrap();
        assert_eq!(s.len(), 4);
        assert!(
            matches!(&s[0], ParsedStmt::Set { names, value } if names[0] == "NOCOUNT" && value == "ON")
        );
        assert!(matches!(&s[2], ParsedStmt::Use(db) if db == "VAD20"));
    }

    #[test]
    fn set_statements_sqlparser_does_not_know_are_accepted() {
        let s = parse_batch(
            "SET LOCK_TIMEOUT -1; set textsize 2147483647 SET ANSI_NULLS, QUOTED_IDENTIFIER ON",
        )
        .unwrap();
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn fetch_with_a_variable_parses() {
        let s = parse_batch("SELECT a FROM t ORDER BY a OFFSET @P1 ROWS FETCH NEXT @P2 ROWS ONLY")
            .unwrap();
        assert!(matches!(s[0], ParsedStmt::Query(_)));
    }

    #[test]
    fn syntax_errors_use_sql_server_numbers() {
        let e = parse_batch("SELECT a, FROM t").unwrap_err();
        assert_eq!(
            (e.number, e.message.as_str()),
            (156, "Incorrect syntax near the keyword 'FROM'.")
        );
        let e = parse_batch("SELECT a FROM t WHERE").unwrap_err();
        assert_eq!(e.number, 156);
        let e = parse_batch("SELEC * FROM x").unwrap_err();
        assert_eq!(
            (e.number, e.message.as_str()),
            (102, "Incorrect syntax near 'SELEC'.")
        );
        let e = parse_batch("SELECT 'abc").unwrap_err();
        assert_eq!(e.number, 105);
    }

    #[test]
    fn declarations_parse() {
        let d = parse_declarations("@P1 nvarchar(4000),@P2 numeric(18,2), @P3 datetime2 OUTPUT")
            .unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[1].ty, SqlType::decimal(18, 2));
        assert_eq!(d[2].ty, SqlType::DateTime2(7));
        assert!(parse_declarations("").unwrap().is_empty());
    }
}
