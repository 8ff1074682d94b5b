//! The Tantivy side of search: one index (`<data-dir>/search-index/`) holding people,
//! posts, groups and pages, told apart by a `kind` field: one writer (a single thread with
//! a 32 MB budget, the only one the process has) and one reader, reloaded after each
//! commit. Queries are built from words, never parsed from the user's text, so no query
//! syntax reaches Tantivy.
//!
//! Privacy is a filter on the documents the words match, not a query: each document
//! carries the hashes of its access tokens in a fast field, and a match counts only when
//! one of them is among the viewer's. A viewer holds thousands of tokens (one per friend
//! of a friend), and a query of that many terms cost more than the words did; a lookup per
//! matched document costs what the words match. The tokens themselves are stored too, and
//! the page is checked against them exactly, so a hash collision can never show a
//! document.

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::columnar::StrColumn;
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, TantivyDocument, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher, Term, doc,
};

use super::super::domain::{self, Doc, Kind, Query as Words};
use super::super::error::Error;
use super::sealed_directory::SealedDirectory;
use super::typos::TypoQuery;
use crate::platform::keyring::PlatformKey;

/// Bytes the writer may buffer before it writes a segment.
const WRITER_BYTES: usize = 32 * 1024 * 1024;

/// The fast field of access-token hashes.
const ACCESS_HASH: &str = "access_hash";

/// An access token's hash: the first 8 bytes of its SHA-256 (a fixed function, since the
/// index keeps them on disk).
fn token_hash(token: &str) -> u64 {
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let [a, b, c, d, e, f, g, h, ..] = digest;
    u64::from_le_bytes([a, b, c, d, e, f, g, h])
}

#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    kind: Field,
    id: Field,
    owner: Field,
    title: Field,
    body: Field,
    tags: Field,
    access: Field,
    access_hash: Field,
    created_at: Field,
    username: Field,
    display_name: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        kind: b.add_text_field("kind", STRING),
        // Fast too: the candidates of a page are ordered by (score, id) from the column,
        // without reading their stored documents.
        id: b.add_text_field("id", STORED | FAST),
        owner: b.add_text_field("owner", STORED),
        title: b.add_text_field("title", TEXT | STORED),
        body: b.add_text_field("body", TEXT | STORED),
        tags: b.add_text_field("tags", STRING | STORED),
        access: b.add_text_field("access", STRING | STORED),
        access_hash: b.add_u64_field(ACCESS_HASH, FAST),
        created_at: b.add_i64_field("created_at", INDEXED | FAST | STORED),
        username: b.add_text_field("username", STORED),
        display_name: b.add_text_field("display_name", STORED),
    };
    (b.build(), fields)
}

/// The index, its writer and its reader.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

/// A search: what, for whom, which page.
pub struct Request<'a> {
    pub kind: Kind,
    pub words: &'a Words,
    /// The access tokens the viewer holds.
    pub holds: &'a [String],
    /// `author:<id>` of everyone a block stands between the viewer and.
    pub blocked: &'a [String],
    /// How many results earlier pages showed.
    pub offset: usize,
    /// The last result of the previous page (its score and id): this page starts after it
    /// in (score, id) order, so documents indexed meanwhile never repeat a result.
    pub after: Option<(f32, String)>,
    pub limit: usize,
    /// The time recency is measured from: the first page's, kept by the cursor, so scores
    /// do not drift between pages.
    pub now: i64,
}

/// Results fetched beyond the previous pages, for what was indexed since above them.
const SLACK: usize = 100;

/// One result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Its rank score (what the next page's cursor starts after).
    pub score: f32,
    pub id: String,
    pub owner: String,
    pub title: String,
    pub username: String,
    pub display_name: String,
    pub tags: Vec<String>,
    pub created_at: i64,
    /// The best passage of the body, and the byte ranges in it that matched.
    pub snippet: Option<(String, Vec<Range<usize>>)>,
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it when absent; with the platform's key, every
    /// file of it is sealed ([`SealedDirectory`], its opened reads kept up to the bytes
    /// given). An index written with another schema
    /// (by an older version), or not sealed with this key (written before sealing, or
    /// restored from another platform), is dropped and created empty: it is derived, and
    /// the context fills an empty index from its documents before it serves.
    pub fn open(dir: &Path, sealed: Option<(&PlatformKey, u64)>) -> Result<Self, Error> {
        let (schema, fields) = schema();
        if sealed.is_some_and(|(key, _)| SealedDirectory::holds_another_index(dir, key)) {
            tracing::info!(
                "search index not sealed with this platform's key dropped, to be refilled"
            );
            std::fs::remove_dir_all(dir).map_err(|e| Error::Index(e.to_string()))?;
        }
        let index = match open_or_create(dir, sealed, schema.clone()) {
            Err(tantivy::TantivyError::SchemaError(reason)) => {
                tracing::info!(%reason, "search index of another schema dropped, to be refilled");
                std::fs::remove_dir_all(dir).map_err(|e| Error::Index(e.to_string()))?;
                open_or_create(dir, sealed, schema)?
            }
            other => other?,
        };
        Self::over(index, fields)
    }

    /// An empty index in memory only (`AGORA_SEARCH_INDEX_IN_MEMORY`): nothing of it is
    /// written to disk; the context fills it from its documents before it serves.
    pub fn in_memory() -> Result<Self, Error> {
        let (schema, fields) = schema();
        Self::over(Index::create_in_ram(schema), fields)
    }

    fn over(index: Index, fields: Fields) -> Result<Self, Error> {
        let writer = index.writer_with_num_threads(1, WRITER_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    /// Rewrites every segment holding deleted documents without them and removes the old
    /// files: a deleted document otherwise stays in the segment's files until a merge
    /// happens to pick it (an erasure asks for this). Returns how many segments were
    /// rewritten. Blocking.
    pub fn purge_deleted(&self) -> Result<usize, Error> {
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| Error::Index("the writer lock is poisoned".into()))?;
        let segments: Vec<_> = self
            .index
            .searchable_segment_metas()?
            .into_iter()
            .filter(|m| m.has_deletes())
            .map(|m| m.id())
            .collect();
        for segment in &segments {
            writer.merge(&[*segment]).wait()?;
        }
        writer.garbage_collect_files().wait()?;
        self.reader.reload()?;
        Ok(segments.len())
    }

    pub fn is_empty(&self) -> bool {
        self.reader.searcher().num_docs() == 0
    }

    /// Replaces each named document by its current version (`None`: removes it), commits,
    /// and makes the change visible to searches. Blocking.
    pub fn apply(&self, changes: &[(String, Option<Doc>)]) -> Result<(), Error> {
        let f = self.fields;
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| Error::Index("the writer lock is poisoned".into()))?;
        for (key, doc) in changes {
            writer.delete_term(Term::from_field_text(f.key, key));
            if let Some(d) = doc {
                writer.add_document(self.document(key, d))?;
            }
        }
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Replaces the whole index by `docs` in one commit: searches see the old index until
    /// it lands, then only these. For a replica whose index may have missed changes (a
    /// start after a crash, a change of role). Blocking.
    pub fn refill(&self, docs: &[(String, Doc)]) -> Result<(), Error> {
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| Error::Index("the writer lock is poisoned".into()))?;
        writer.delete_all_documents()?;
        for (key, doc) in docs {
            writer.add_document(self.document(key, doc))?;
        }
        writer.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    fn document(&self, key: &str, d: &Doc) -> TantivyDocument {
        let f = self.fields;
        let mut document = doc!(
            f.key => key,
            f.kind => d.kind.name(),
            f.id => d.id.as_str(),
            f.owner => d.owner.as_deref().unwrap_or_default(),
            f.title => d.title.as_str(),
            f.body => d.body.as_str(),
            f.created_at => d.created_at,
            f.username => d.username.as_str(),
            f.display_name => d.display_name.as_str(),
        );
        for tag in &d.tags {
            document.add_text(f.tags, tag);
        }
        for token in &d.access {
            document.add_text(f.access, token);
            document.add_u64(f.access_hash, token_hash(token));
        }
        document
    }

    /// The hits of a search, best first, and whether more follow. Blocking.
    pub fn search(&self, r: &Request) -> Result<(Vec<Hit>, bool), Error> {
        let searcher = self.reader.searcher();
        let query = self.query(r, &searcher);
        let want = TopDocs::with_limit(r.offset + r.limit + 1 + SLACK);
        let hashes: Arc<HashSet<u64>> = Arc::new(r.holds.iter().map(|t| token_hash(t)).collect());
        let readable = move |h: u64| hashes.contains(&h);
        let found: Vec<(Score, DocAddress)> = if r.kind == Kind::Posts {
            let now = r.now;
            let recent = want.tweak_score(move |segment: &tantivy::SegmentReader| {
                let created = segment
                    .fast_fields()
                    .i64("created_at")
                    .ok()
                    .map(|c| c.first_or_default_col(now));
                move |doc: tantivy::DocId, score: Score| match &created {
                    Some(col) => domain::recency(score, now - col.get_val(doc)),
                    None => score,
                }
            });
            searcher.search(
                &query,
                &FilterCollector::new(ACCESS_HASH.into(), readable, recent),
            )?
        } else {
            searcher.search(
                &query,
                &FilterCollector::new(ACCESS_HASH.into(), readable, want.order_by_score()),
            )?
        };
        let ranked = in_page_order(&searcher, found, r.after.as_ref().map(|(s, _)| *s))?;
        let start = match &r.after {
            Some((score, last)) => ranked
                .iter()
                .position(|(s, id, _)| *s < *score || (*s == *score && id.as_ref() > Some(last)))
                .unwrap_or(ranked.len()),
            None => 0,
        };
        // Only the page's documents are read, and checked exactly.
        let holds: HashSet<&str> = r.holds.iter().map(String::as_str).collect();
        let mut page = Vec::with_capacity(r.limit + 1);
        for (score, _, address) in ranked.into_iter().skip(start) {
            if page.len() > r.limit {
                break;
            }
            let d: TantivyDocument = searcher.doc(address)?;
            if self.opens(&d, &holds) {
                page.push((score, d));
            }
        }
        let more = page.len() > r.limit;
        let snippets = SnippetGenerator::create(&searcher, &query, self.fields.body)?;
        let hits = page
            .into_iter()
            .take(r.limit)
            .map(|(score, d)| self.hit(&d, r.kind, &snippets, score))
            .collect();
        Ok((hits, more))
    }

    /// Whether one of the document's access tokens is among `holds` (the exact check
    /// behind the hashed filter).
    fn opens(&self, d: &TantivyDocument, holds: &HashSet<&str>) -> bool {
        d.get_all(self.fields.access)
            .filter_map(|v| v.as_str())
            .any(|token| holds.contains(token))
    }

    fn hit(&self, d: &TantivyDocument, kind: Kind, snippets: &SnippetGenerator, score: f32) -> Hit {
        let f = self.fields;
        let text = |field| {
            d.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let snippet = (kind == Kind::Posts || kind == Kind::People).then(|| {
            let s = snippets.snippet_from_doc(d);
            (s.fragment().to_string(), s.highlighted().to_vec())
        });
        Hit {
            score,
            id: text(f.id),
            owner: text(f.owner),
            title: text(f.title),
            username: text(f.username),
            display_name: text(f.display_name),
            tags: d
                .get_all(f.tags)
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            created_at: d
                .get_first(f.created_at)
                .and_then(|v| v.as_i64())
                .unwrap_or_default(),
            snippet: snippet.filter(|(text, _)| !text.is_empty()),
        }
    }

    /// Kind and blocks as filters (scoring nothing; access is the collector's), and every word and tag as a
    /// must: a word matches exactly (scored by BM25), with the typos [`domain::typos`]
    /// allows (half the weight), and as a prefix in names, and in any field for the last
    /// word (the one being typed: "ali" finds "alice", "volcano" finds "volcanoes").
    fn query(&self, r: &Request, searcher: &Searcher) -> BooleanQuery {
        let f = self.fields;
        let filter = |q: Box<dyn Query>| -> Box<dyn Query> { Box::new(BoostQuery::new(q, 0.0)) };
        let set = |field: Field, tokens: &[String]| {
            TermSetQuery::new(tokens.iter().map(|t| Term::from_field_text(field, t)))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, filter(Box::new(term(f.kind, r.kind.name()))))];
        if !r.blocked.is_empty() {
            clauses.push((Occur::MustNot, Box::new(set(f.access, r.blocked))));
        }
        let fields: &[Field] = match r.kind {
            Kind::People => &[f.title, f.body],
            Kind::Posts => &[f.body],
            Kind::Groups | Kind::Pages => &[f.title],
        };
        let last = r.words.words.len().saturating_sub(1);
        for (n, word) in r.words.words.iter().enumerate() {
            // Names always match as prefixes; any field does for the word being typed.
            let typing = n == last && word.chars().count() >= 3;
            let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (i, field) in fields.iter().enumerate() {
                let exact = Term::from_field_text(*field, word);
                // Names weigh more than bios.
                let weight = if i == 0 { 2.0 } else { 1.0 };
                let mut alternative = |q: Box<dyn Query>, boost: f32| {
                    alternatives.push((Occur::Should, Box::new(BoostQuery::new(q, boost))));
                };
                alternative(
                    Box::new(TermQuery::new(exact.clone(), IndexRecordOption::WithFreqs)),
                    weight,
                );
                let typos = domain::typos(word);
                if typos > 0 && !spelled(searcher, &exact) {
                    alternative(Box::new(TypoQuery::new(*field, word, typos)), 0.5 * weight);
                }
                let name = i == 0 && r.kind != Kind::Posts;
                if name || typing {
                    alternative(
                        Box::new(FuzzyTermQuery::new_prefix(exact, 0, true)),
                        0.5 * weight,
                    );
                }
            }
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(alternatives))));
        }
        for tag in &r.words.tags {
            clauses.push((Occur::Must, Box::new(term(f.tags, tag))));
        }
        BooleanQuery::new(clauses)
    }
}

/// Whether `term` is common enough in the index to be taken as spelled as meant, so its
/// typo alternatives are not searched: walking the term dictionary for them was a quarter
/// of a common two-word query's time, for alternatives that are rare words beside it.
fn spelled(searcher: &Searcher, term: &Term) -> bool {
    let found_in = searcher.doc_freq(term).unwrap_or(0);
    domain::spelled(found_in, searcher.num_docs())
}

/// The found documents best first, equal scores by id, so that every page cuts the same
/// order. Ids (read from the fast column of each document's segment, a dictionary lookup
/// each) are read only where they decide: among documents of equal score, and at the
/// previous page's last score (`cursor`); elsewhere they are `None`.
fn in_page_order(
    searcher: &Searcher,
    mut found: Vec<(Score, DocAddress)>,
    cursor: Option<Score>,
) -> Result<Vec<(Score, Option<String>, DocAddress)>, Error> {
    found.sort_by(|(a, _), (b, _)| b.total_cmp(a));
    let decides = |run: &[(Score, DocAddress)]| {
        run.len() > 1 || run.first().is_some_and(|(s, _)| cursor == Some(*s))
    };
    let tied = found.chunk_by(|(a, _), (b, _)| a == b).any(decides);
    let columns = match tied {
        true => searcher
            .segment_readers()
            .iter()
            .map(|segment| segment.fast_fields().str("id"))
            .collect::<tantivy::Result<Vec<Option<StrColumn>>>>()?,
        false => Vec::new(),
    };
    let id_of = |address: &DocAddress| -> Result<String, Error> {
        let mut id = String::new();
        let column = columns
            .get(address.segment_ord as usize)
            .and_then(Option::as_ref);
        if let Some(column) = column
            && let Some(ord) = column.term_ords(address.doc_id).next()
        {
            column
                .ord_to_str(ord, &mut id)
                .map_err(|e| Error::Index(e.to_string()))?;
        }
        Ok(id)
    };
    let mut ranked = Vec::with_capacity(found.len());
    for run in found.chunk_by(|(a, _), (b, _)| a == b) {
        let decides = decides(run);
        let mut tied = run
            .iter()
            .map(|(s, address)| Ok((*s, decides.then(|| id_of(address)).transpose()?, *address)))
            .collect::<Result<Vec<_>, Error>>()?;
        tied.sort_by(|(_, a, _), (_, b, _)| a.cmp(b));
        ranked.extend(tied);
    }
    Ok(ranked)
}

fn open_or_create(
    dir: &Path,
    sealed: Option<(&PlatformKey, u64)>,
    schema: Schema,
) -> tantivy::Result<Index> {
    std::fs::create_dir_all(dir)?;
    let directory = tantivy::directory::MmapDirectory::open(dir)?;
    match sealed {
        Some((key, cache)) => {
            Index::open_or_create(SealedDirectory::new(directory, key, cache), schema)
        }
        None => Index::open_or_create(directory, schema),
    }
}

fn term(field: Field, text: &str) -> TermQuery {
    TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test: a panic is a failure")]

    use super::*;

    #[test]
    fn an_index_of_another_schema_is_dropped_to_be_refilled() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = Schema::builder();
        let name = old.add_text_field("name", STRING);
        let index = Index::create_in_dir(dir.path(), old.build()).unwrap();
        let mut writer: IndexWriter = index.writer_with_num_threads(1, WRITER_BYTES).unwrap();
        writer.add_document(doc!(name => "x")).unwrap();
        writer.commit().unwrap();
        drop(writer);

        let index = SearchIndex::open(dir.path(), None).unwrap();
        assert!(
            index.is_empty(),
            "the old documents are gone, to be refilled"
        );
    }

    fn key() -> PlatformKey {
        PlatformKey::from_setting(&PlatformKey::generate()).unwrap()
    }

    fn post(id: &str, body: &str) -> (String, Option<Doc>) {
        let doc = Doc {
            kind: Kind::Posts,
            id: id.into(),
            title: String::new(),
            body: body.into(),
            tags: vec!["zanzibarfest".into()],
            owner: Some("u1".into()),
            access: vec![domain::PUBLIC.to_string()],
            created_at: 1_800_000_000,
            username: "quetzalwhisper".into(),
            display_name: String::new(),
        };
        (format!("posts/{id}"), Some(doc))
    }

    /// One page of public posts matching `text`, after `after` with `offset` results
    /// before it (as the API's cursor gives them).
    fn page(
        index: &SearchIndex,
        text: &str,
        offset: usize,
        after: Option<(f32, String)>,
        limit: usize,
    ) -> (Vec<Hit>, bool) {
        let words = domain::parse_query(text).unwrap();
        index
            .search(&Request {
                kind: Kind::Posts,
                words: &words,
                holds: &[domain::PUBLIC.to_string()],
                blocked: &[],
                offset,
                after,
                limit,
                now: 1_800_000_000,
            })
            .unwrap()
    }

    fn found(index: &SearchIndex, text: &str) -> Vec<String> {
        let (hits, _) = page(index, text, 0, None, 10);
        hits.into_iter().map(|h| h.id).collect()
    }

    /// Every page of `text`, following each page's last (score, id) and the results so far
    /// as the next cursor (as the API's cursor does).
    fn every_page(index: &SearchIndex, text: &str, limit: usize) -> Vec<Vec<String>> {
        let mut pages: Vec<Vec<String>> = Vec::new();
        let mut after = None;
        loop {
            let offset = pages.iter().map(Vec::len).sum();
            let (hits, more) = page(index, text, offset, after, limit);
            after = hits.last().map(|h| (h.score, h.id.clone()));
            pages.push(hits.into_iter().map(|h| h.id).collect());
            if !more {
                return pages;
            }
        }
    }

    #[test]
    fn pages_of_equal_scores_follow_ids_and_never_repeat_or_skip() {
        let index = SearchIndex::in_memory().unwrap();
        // Equal text and time: every score is equal, so ids alone order them.
        let mut posts: Vec<_> = (0..25)
            .map(|i| post(&format!("p{:02}", (i * 7) % 25), "xylophonic marmalade"))
            .collect();
        posts.push(post("q1", "xylophonic marmalade marmalade sunrise"));
        index.apply(&posts).unwrap();
        let pages = every_page(&index, "marmalade", 4);
        let seen: Vec<String> = pages.concat();
        assert_eq!(
            seen.first().map(String::as_str),
            Some("q1"),
            "the best first"
        );
        let mut ids: Vec<String> = (0..25).map(|i| format!("p{i:02}")).collect();
        ids.insert(0, "q1".into());
        assert_eq!(seen, ids, "every post once, equal scores in id order");
        assert!(pages.iter().all(|p| p.len() <= 4));
    }

    #[test]
    fn a_rare_word_forgives_a_typo_and_a_common_one_is_taken_as_typed() {
        let index = SearchIndex::in_memory().unwrap();
        let mut posts: Vec<_> = (0..200)
            .map(|i| post(&format!("p{i:03}"), "marmalade"))
            .collect();
        posts.push(post("typo1", "marmolade"));
        posts.push(post("rare1", "xylophonic"));
        index.apply(&posts).unwrap();
        // "xylophonik" is in no document: its typo finds "xylophonic".
        assert_eq!(found(&index, "xylophonik tangerine"), Vec::<String>::new());
        assert_eq!(found(&index, "xylophonik"), ["rare1"]);
        // "marmalade" is in almost every document: taken as typed, not as "marmolade".
        let common = every_page(&index, "marmalade", 50).concat();
        assert_eq!(common.len(), 200);
        assert!(!common.contains(&"typo1".to_string()));
        // The rare spelling still finds the common one: it is a typo away.
        assert!(found(&index, "marmolade").contains(&"typo1".to_string()));
    }

    /// Whether any file under `dir` holds `needle`.
    fn on_disk(dir: &Path, needle: &str) -> bool {
        std::fs::read_dir(dir).unwrap().any(|e| {
            let bytes = std::fs::read(e.unwrap().path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
    }

    #[test]
    fn a_sealed_index_shows_no_words_on_disk_and_searches_after_a_reopen() {
        for key in [None, Some(key())] {
            let dir = tempfile::tempdir().unwrap();
            let sealed = key.as_ref().map(|k| (k, 1 << 20));
            let index = SearchIndex::open(dir.path(), sealed).unwrap();
            let posts: Vec<_> = (0..300)
                .map(|i| match i {
                    17 => post("p0017", "xylophonic marmalade tangerine"),
                    _ => post(&format!("p{i:04}"), "xylophonic marmalade"),
                })
                .collect();
            index.apply(&posts).unwrap();
            index
                .apply(&[post("p9999", "a lone xylophonic sunrise")])
                .unwrap();
            drop(index);

            let index = SearchIndex::open(dir.path(), sealed).unwrap();
            assert_eq!(found(&index, "sunrise"), ["p9999"]);
            assert_eq!(found(&index, "tangerine"), ["p0017"]);
            assert_eq!(found(&index, "xylophonic").len(), 10);
            for word in ["xylophonic", "marmalade", "zanzibarfest", "quetzalwhisper"] {
                // The plain index is the control: the scan finds what is there.
                assert_eq!(on_disk(dir.path(), word), key.is_none(), "{word}");
            }
        }
    }

    #[test]
    fn an_index_sealed_with_another_key_or_none_is_dropped_to_be_refilled() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path(), None).unwrap();
        index.apply(&[post("p1", "plain words")]).unwrap();
        drop(index);
        let (first, second) = (key(), key());
        let index = SearchIndex::open(dir.path(), Some((&first, 0))).unwrap();
        assert!(index.is_empty(), "the plain index is dropped");
        index.apply(&[post("p2", "sealed words")]).unwrap();
        drop(index);
        let index = SearchIndex::open(dir.path(), Some((&first, 0))).unwrap();
        assert_eq!(found(&index, "sealed"), ["p2"], "kept under its own key");
        drop(index);
        let index = SearchIndex::open(dir.path(), Some((&second, 0))).unwrap();
        assert!(index.is_empty(), "another key's index is dropped");
    }

    #[test]
    fn a_refill_leaves_only_the_documents_given() {
        let index = SearchIndex::in_memory().unwrap();
        index
            .apply(&[post("p1", "stale walrus"), post("p2", "kept walrus")])
            .unwrap();
        let (id, doc) = post("p2", "kept walrus, edited");
        let (new_id, new_doc) = post("p3", "fresh walrus");
        index
            .refill(&[(id, doc.unwrap()), (new_id, new_doc.unwrap())])
            .unwrap();
        assert_eq!(found(&index, "stale"), Vec::<String>::new());
        assert_eq!(found(&index, "edited"), ["p2"]);
        let mut all = found(&index, "walrus");
        all.sort();
        assert_eq!(all, ["p2", "p3"]);
    }
}
