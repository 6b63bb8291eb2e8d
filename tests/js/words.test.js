const test = require("node:test");
const assert = require("node:assert/strict");
const { browserFile } = require("./browser_file.js");

const { WORDS, languageOf, wordsFor } = browserFile("words.js")();
const fields = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((found) => found[1]).sort();

test("both languages have the same words, each filling in the same values", () => {
    assert.deepEqual(Object.keys(WORDS).sort(), ["en", "ru"]);
    assert.deepEqual(Object.keys(WORDS.ru).sort(), Object.keys(WORDS.en).sort());
    for (const [key, english] of Object.entries(WORDS.en)) {
        assert.ok(WORDS.ru[key].trim(), key);
        assert.notEqual(WORDS.ru[key], english, key);
        assert.deepEqual(fields(WORDS.ru[key]), fields(english), key);
    }
});

test("every word the browser files ask for is in the dictionaries, and every word is asked for", () => {
    const fs = require("node:fs");
    const path = require("node:path");
    const page = path.join(__dirname, "..", "..", "studio", "page");
    const asked = new Set();
    for (const name of fs.readdirSync(page).filter((file) => file.endsWith(".js"))) {
        const source = fs.readFileSync(path.join(page, name), "utf8");
        for (const found of source.matchAll(/\bsay\(\s*"([\w.]+)"/g)) asked.add(found[1]);
    }
    assert.deepEqual([...asked].filter((key) => !(key in WORDS.en)), []);
    assert.deepEqual(Object.keys(WORDS.en).filter((key) => !asked.has(key)), []);
});

test("a Russian browser gets Russian, any other English", () => {
    assert.equal(languageOf("ru"), "ru");
    assert.equal(languageOf("ru-RU"), "ru");
    assert.equal(languageOf("RU-ru"), "ru");
    assert.equal(languageOf("en-GB"), "en");
    assert.equal(languageOf("de"), "en");
    assert.equal(languageOf("rus"), "en");
    assert.equal(languageOf(""), "en");
    assert.equal(languageOf(undefined), "en");
});

test("a word fills in its values, and says the English one for a missing word", () => {
    assert.equal(wordsFor("ru-RU")("sidebar.delete_question", { title: "Кошки" }), "Удалить «Кошки»?");
    assert.equal(wordsFor("en-US")("sidebar.delete_question", { title: "Cats" }), "Delete “Cats”?");
    assert.equal(wordsFor("de")("images.cleared", { count: 3 }), "Cleared 3 images.");
    assert.equal(wordsFor("ru")("images.cleared", { count: 3 }), "Удалено изображений: 3.");
    assert.equal(wordsFor("ru")("sidebar.no_match", { query: "{title}" }), "Нет разговоров по запросу «{title}».");
});
