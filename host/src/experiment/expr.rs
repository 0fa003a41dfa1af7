//! Formulas of derived metrics: numbers, metric names, factor names (a
//! numeric level of the run's variant), `+ - * /`, parentheses, unary
//! minus and the functions `log2`, `ln`, `log10`, `sqrt`, `exp` and `abs`,
//! over the metrics of one run.
//!
//! A metric name is letters, digits, `_`, `.` and `-` between letters
//! (`find-providers.success_rate`); write binary minus with spaces around
//! it (`a - b`). A formula whose metrics are missing from a run, or that
//! divides by zero, has no value for that run.
//!
//! ```
//! use peershare::experiment::expr::Expr;
//! use std::collections::BTreeMap;
//! let e = Expr::parse("lookup.messages_mean / lookup.success_rate").unwrap();
//! let values = BTreeMap::from([("lookup.messages_mean".to_string(), 30.0), ("lookup.success_rate".to_string(), 0.75)]);
//! assert_eq!(e.eval(&values), Some(40.0));
//! ```

use std::collections::BTreeMap;

/// A parsed formula.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A constant.
    Number(f64),
    /// The value of a metric.
    Metric(String),
    /// Negation.
    Neg(Box<Expr>),
    /// A binary operation: `+`, `-`, `*` or `/`.
    Binary(char, Box<Expr>, Box<Expr>),
    /// A function of one argument.
    Call(Function, Box<Expr>),
}

/// The functions a formula may call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Function {
    /// Logarithm to base 2.
    Log2,
    /// Natural logarithm.
    Ln,
    /// Logarithm to base 10.
    Log10,
    /// Square root.
    Sqrt,
    /// e to the power.
    Exp,
    /// Absolute value.
    Abs,
}

impl Function {
    fn from_name(name: &str) -> Option<Function> {
        Some(match name {
            "log2" => Function::Log2,
            "ln" => Function::Ln,
            "log10" => Function::Log10,
            "sqrt" => Function::Sqrt,
            "exp" => Function::Exp,
            "abs" => Function::Abs,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Function::Log2 => "log2",
            Function::Ln => "ln",
            Function::Log10 => "log10",
            Function::Sqrt => "sqrt",
            Function::Exp => "exp",
            Function::Abs => "abs",
        }
    }

    fn apply(self, x: f64) -> f64 {
        match self {
            Function::Log2 => x.log2(),
            Function::Ln => x.ln(),
            Function::Log10 => x.log10(),
            Function::Sqrt => x.sqrt(),
            Function::Exp => x.exp(),
            Function::Abs => x.abs(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Op(char),
}

fn tokens(text: &str) -> Result<Vec<(usize, Token)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if "+-*/()".contains(c) {
            out.push((i, Token::Op(c)));
            i += 1;
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.'
                    || ((chars[i] == 'e' || chars[i] == 'E') && i + 1 < chars.len())
                    || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            out.push((start, Token::Number(s.parse().map_err(|_| format!("{s:?} is not a number"))?)));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric()
                    || chars[i] == '_'
                    || chars[i] == '.'
                    || (chars[i] == '-' && chars.get(i + 1).is_some_and(|n| n.is_alphabetic()) && chars[i - 1].is_alphabetic()))
            {
                i += 1;
            }
            out.push((start, Token::Name(chars[start..i].iter().collect())));
        } else {
            return Err(format!("unexpected {c:?} at position {}", i + 1));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut left = self.product()?;
        while let Some(Token::Op(op @ ('+' | '-'))) = self.peek().cloned() {
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.product()?));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(Token::Op(op @ ('*' | '/'))) = self.peek().cloned() {
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.tokens.get(self.at).cloned() {
            Some((_, Token::Op('-'))) => {
                self.at += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Some((_, Token::Number(x))) => {
                self.at += 1;
                Ok(Expr::Number(x))
            }
            Some((pos, Token::Name(n))) => {
                self.at += 1;
                if let Some(Token::Op('(')) = self.peek() {
                    let f = Function::from_name(&n)
                        .ok_or_else(|| format!("unknown function {n:?} at position {} (log2, ln, log10, sqrt, exp, abs)", pos + 1))?;
                    let arg = self.unary()?;
                    return Ok(Expr::Call(f, Box::new(arg)));
                }
                Ok(Expr::Metric(n))
            }
            Some((_, Token::Op('('))) => {
                self.at += 1;
                let inner = self.sum()?;
                match self.peek() {
                    Some(Token::Op(')')) => {
                        self.at += 1;
                        Ok(inner)
                    }
                    _ => Err("a `(` is never closed".into()),
                }
            }
            Some((pos, t)) => Err(format!("unexpected {} at position {}", describe(&t), pos + 1)),
            None => Err("the formula ends too soon".into()),
        }
    }
}

fn describe(t: &Token) -> String {
    match t {
        Token::Number(x) => format!("number {x}"),
        Token::Name(n) => format!("name {n:?}"),
        Token::Op(c) => format!("`{c}`"),
    }
}

impl Expr {
    /// Parses a formula.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let mut p = Parser { tokens: tokens(text)?, at: 0 };
        let e = p.sum()?;
        match p.tokens.get(p.at) {
            None => Ok(e),
            Some((pos, t)) => Err(format!("unexpected {} at position {}", describe(t), pos + 1)),
        }
    }

    /// The metrics the formula reads.
    pub fn metrics(&self) -> Vec<&str> {
        match self {
            Expr::Number(_) => vec![],
            Expr::Metric(m) => vec![m],
            Expr::Neg(e) | Expr::Call(_, e) => e.metrics(),
            Expr::Binary(_, a, b) => {
                let mut v = a.metrics();
                v.extend(b.metrics());
                v
            }
        }
    }

    /// The formula's value over `values`, or `None` if a metric is missing
    /// or the result is not a finite number.
    pub fn eval(&self, values: &BTreeMap<String, f64>) -> Option<f64> {
        let v = match self {
            Expr::Number(x) => *x,
            Expr::Metric(m) => *values.get(m)?,
            Expr::Neg(e) => -e.eval(values)?,
            Expr::Call(f, e) => f.apply(e.eval(values)?),
            Expr::Binary(op, a, b) => {
                let (a, b) = (a.eval(values)?, b.eval(values)?);
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    _ => a / b,
                }
            }
        };
        v.is_finite().then_some(v)
    }
}

/// The formula as text that parses back to the same formula, with every
/// operation in parentheses: `(0.5 * log2(N))`.
impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Number(x) => write!(f, "{x}"),
            Expr::Metric(m) => f.write_str(m),
            Expr::Neg(e) => write!(f, "-({e})"),
            Expr::Binary(op, a, b) => write!(f, "({a} {op} {b})"),
            Expr::Call(func, e) => write!(f, "{}({e})", func.name()),
        }
    }
}

/// A formula is stored as its text (run files stay readable).
impl serde::Serialize for Expr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Expr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Expr, D::Error> {
        let text = String::deserialize(d)?;
        Expr::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> BTreeMap<String, f64> {
        [("a", 6.0), ("b.c", 2.0), ("find-providers.rate", 0.5)].into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn precedence_parentheses_and_names_with_dashes() {
        let v = values();
        assert_eq!(Expr::parse("a + b.c * 3").unwrap().eval(&v), Some(12.0));
        assert_eq!(Expr::parse("(a + b.c) * 3").unwrap().eval(&v), Some(24.0));
        assert_eq!(Expr::parse("a - b.c - 1").unwrap().eval(&v), Some(3.0));
        assert_eq!(Expr::parse("-a / find-providers.rate").unwrap().eval(&v), Some(-12.0));
        assert_eq!(Expr::parse("1e3 * .5").unwrap().eval(&v), Some(500.0));
        assert_eq!(Expr::parse("a / (b.c - 2)").unwrap().eval(&v), None, "division by zero has no value");
        assert_eq!(Expr::parse("a * missing").unwrap().eval(&v), None);
        assert_eq!(Expr::parse("a + b.c").unwrap().metrics(), ["a", "b.c"]);
        assert_eq!(Expr::parse("0.5 * log2(a + 2)").unwrap().eval(&v), Some(1.5));
        assert_eq!(Expr::parse("sqrt(b.c * 8) - abs(-1)").unwrap().eval(&v), Some(3.0));
        assert_eq!(Expr::parse("ln(0)").unwrap().eval(&v), None, "-inf is no value");
    }

    #[test]
    fn a_formula_prints_as_text_that_parses_back_to_it() {
        for text in ["0.5 * log2(N)", "-a / find-providers.rate", "a - b.c - 1", "sqrt(b.c * 8) - abs(-1) + 1e-12", "(a + b.c) * 3 / 2.25"]
        {
            let e = Expr::parse(text).unwrap();
            assert_eq!(Expr::parse(&e.to_string()).unwrap(), e, "{text} printed as {e}");
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<Expr>(&json).unwrap(), e);
        }
        assert_eq!(Expr::parse("0.5 * log2(N)").unwrap().to_string(), "(0.5 * log2(N))");
        assert!(serde_json::from_str::<Expr>("\"a +\"").unwrap_err().to_string().contains("ends too soon"));
    }

    #[test]
    fn malformed_formulas_say_where() {
        assert!(Expr::parse("a +").unwrap_err().contains("ends too soon"));
        assert!(Expr::parse("(a").unwrap_err().contains("never closed"));
        assert!(Expr::parse("a b").unwrap_err().contains("position 3"));
        assert!(Expr::parse("a % b").unwrap_err().contains("'%'"));
        assert!(Expr::parse("cube(a)").unwrap_err().contains("unknown function \"cube\""));
    }
}
