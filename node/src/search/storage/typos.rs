//! A word with typos whose first letter is not one of them: the rule of Elasticsearch's
//! `prefix_length: 1` and of Meilisearch (a typo on the first letter costs two). People
//! rarely get the first letter wrong, and it is what keeps a typo query cheap: Tantivy's
//! `FuzzyTermQuery` walks the whole term dictionary of every segment with its Levenshtein
//! automaton (over half of a query's time with two words), while one anchored on the first
//! letter walks only the terms that start with it.

use tantivy::Term;
use tantivy::query::{AutomatonWeight, DfaWrapper, EnableScoring, FuzzyTermQuery, Query, Weight};
use tantivy::schema::Field;
use tantivy_fst::Automaton;

/// Terms of `field` starting with the first letter of `word` and within `typos` edits of
/// it after that (a transposition is one edit). Scores as a constant, as Tantivy's fuzzy
/// queries do.
#[derive(Debug, Clone)]
pub struct TypoQuery {
    field: Field,
    first: String,
    rest: String,
    typos: u8,
}

impl TypoQuery {
    pub fn new(field: Field, word: &str, typos: u8) -> Self {
        let split = word.chars().next().map_or(0, char::len_utf8);
        let (first, rest) = word.split_at(split);
        TypoQuery {
            field,
            first: first.to_string(),
            rest: rest.to_string(),
            typos,
        }
    }
}

impl Query for TypoQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let rest = Term::from_field_text(self.field, &self.rest);
        let rest = FuzzyTermQuery::new(rest, self.typos, true).automaton()?;
        Ok(Box::new(AutomatonWeight::new(
            self.field,
            Anchored {
                first: self.first.as_bytes().to_vec(),
                rest,
            },
        )))
    }
}

/// The bytes of `first` exactly, then what `rest` accepts.
struct Anchored {
    first: Vec<u8>,
    rest: DfaWrapper,
}

#[derive(Debug, Clone)]
enum State {
    /// This many bytes of `first` read.
    First(usize),
    Rest(u32),
    Dead,
}

impl Automaton for Anchored {
    type State = State;

    fn start(&self) -> State {
        if self.first.is_empty() {
            State::Rest(self.rest.start())
        } else {
            State::First(0)
        }
    }

    fn is_match(&self, state: &State) -> bool {
        matches!(state, State::Rest(s) if self.rest.is_match(s))
    }

    fn can_match(&self, state: &State) -> bool {
        match state {
            State::First(_) => true,
            State::Rest(s) => self.rest.can_match(s),
            State::Dead => false,
        }
    }

    fn accept(&self, state: &State, byte: u8) -> State {
        match *state {
            State::First(read) if self.first.get(read) == Some(&byte) => {
                if read + 1 == self.first.len() {
                    State::Rest(self.rest.start())
                } else {
                    State::First(read + 1)
                }
            }
            State::Rest(s) => State::Rest(self.rest.accept(&s, byte)),
            _ => State::Dead,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test: a panic is a failure")]

    use super::*;
    use tantivy::collector::DocSetCollector;
    use tantivy::schema::{STRING, Schema};
    use tantivy::{Index, IndexWriter, doc};

    #[test]
    fn typos_anywhere_but_in_the_first_letter() {
        let mut schema = Schema::builder();
        let word = schema.add_text_field("word", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let words = [
            "nakamura",
            "nakamrua",
            "makamura",
            "nakamuraa",
            "ñandú",
            "nandu",
        ];
        for w in words {
            writer.add_document(doc!(word => w)).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let found = |q: &str, typos| -> Vec<&str> {
            let docs = searcher
                .search(&TypoQuery::new(word, q, typos), &DocSetCollector)
                .unwrap();
            let mut found: Vec<_> = docs.iter().map(|d| words[d.doc_id as usize]).collect();
            found.sort();
            found
        };
        assert_eq!(found("nakamura", 0), ["nakamura"]);
        // A transposition and an extra letter are one typo each; an `m` for the first `n`
        // is not forgiven.
        assert_eq!(found("nakamura", 1), ["nakamrua", "nakamura", "nakamuraa"]);
        assert_eq!(found("ñandu", 1), ["ñandú"]);
        assert_eq!(found("nandú", 1), ["nandu"]);
    }
}
