// Loads one of the page's browser files as the page does: the file is a function expression,
// evaluated in a context holding only the browser globals a test gives it.
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const PAGE = path.join(__dirname, "..", "..", "studio", "page");

function browserFile(name, globals = {}) {
    const source = fs.readFileSync(path.join(PAGE, name), "utf8");
    const context = vm.createContext({ ...globals });
    context.window = context;
    return vm.runInContext(`(${source.trim()})`, context, { filename: name });
}

// A localStorage as the browser's: strings under keys.
function storage(entries = {}) {
    const kept = new Map(Object.entries(entries));
    return {
        kept,
        getItem: (key) => (kept.has(key) ? kept.get(key) : null),
        setItem: (key, value) => kept.set(key, String(value)),
    };
}

// The browser code's words in `tag`'s language, as the page gives them to each file (words.js).
function wordsIn(tag = "en-US") {
    return browserFile("words.js")().wordsFor(tag);
}

module.exports = { browserFile, storage, wordsIn };
