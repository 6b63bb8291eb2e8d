const test = require("node:test");
const assert = require("node:assert/strict");
const { browserFile } = require("./browser_file.js");

const counter = browserFile("prompt_counter.js")(4000);

test("counts the prompt as websim_core does: trimmed, in code points", () => {
    assert.equal(counter("  a lighthouse \n"), '<span class="counter">12 / 4,000</span>');
    // One emoji is one code point, though it is two UTF-16 units.
    assert.equal(counter("🌀🌀"), '<span class="counter">2 / 4,000</span>');
    assert.equal(counter(null), '<span class="counter">0 / 4,000</span>');
});

test("says how many characters are too many", () => {
    assert.equal(
        counter("x".repeat(4012)),
        '<span class="counter over">4,012 / 4,000: 12 too many</span>'
    );
    assert.equal(counter("x".repeat(4000)), '<span class="counter">4,000 / 4,000</span>');
});
