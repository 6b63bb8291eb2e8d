const test = require("node:test");
const assert = require("node:assert/strict");
const { browserFile } = require("./browser_file.js");

// The subset of the backend image_store.js uses, in memory: records by id.
function memory() {
    const kept = new Map();
    return {
        kept,
        all: async () => [...kept.values()],
        put: async (record) => void kept.set(record.id, record),
        remove: async (ids) => ids.forEach((id) => kept.delete(id)),
        clear: async () => kept.clear(),
    };
}

function images(limits = { maxCount: 3, maxBytes: 1000 }) {
    const backend = memory();
    return { store: browserFile("image_store.js")(limits).keep(backend), backend };
}

const made = (id, at, size = 10, index = 0) => ({ id, made: at, index, prompt: id, size });
// In this realm, not the browser file's, so that deepEqual compares plain arrays.
const ids = (records) => Array.from(records, (record) => record.id);

test("images are listed newest first, a batch in its own order", async () => {
    const { store } = images({ maxCount: 10, maxBytes: 1000 });
    await store.add([made("old", 1)]);
    await store.add([made("new-1", 2, 10, 0), made("new-2", 2, 10, 1)]);
    assert.deepEqual(ids(await store.list()), ["new-1", "new-2", "old"]);
});

test("past the count cap the oldest are dropped first", async () => {
    const { store } = images({ maxCount: 3, maxBytes: 1000 });
    for (const at of [1, 2, 3]) await store.add([made(`image-${at}`, at)]);
    const dropped = await store.add([made("image-4", 4), made("image-5", 4, 10, 1)]);
    assert.deepEqual(ids(dropped), ["image-1", "image-2"]);
    assert.deepEqual(ids(await store.list()), ["image-4", "image-5", "image-3"]);
});

test("past the size cap the oldest are dropped until the rest fits", async () => {
    const { store } = images({ maxCount: 10, maxBytes: 100 });
    await store.add([made("a", 1, 40)]);
    await store.add([made("b", 2, 40)]);
    const dropped = await store.add([made("c", 3, 50)]);
    assert.deepEqual(ids(dropped), ["a"]);
    assert.deepEqual(ids(await store.list()), ["c", "b"]);
});

test("the newest image stays even when it alone is over the size cap", async () => {
    const { store } = images({ maxCount: 10, maxBytes: 100 });
    await store.add([made("small", 1, 10)]);
    await store.add([made("huge", 2, 500)]);
    assert.deepEqual(ids(await store.list()), ["huge"]);
});

test("the same id again replaces the record rather than adding one", async () => {
    const { store } = images();
    await store.add([made("a", 1)]);
    await store.add([{ ...made("a", 1), prompt: "again" }]);
    const listed = await store.list();
    assert.equal(listed.length, 1);
    assert.equal(listed[0].prompt, "again");
});

test("clear empties the store and hands back what it removed, which restore puts back", async () => {
    const { store, backend } = images();
    await store.add([made("a", 1)]);
    await store.add([made("b", 2)]);
    const removed = await store.clear();
    assert.deepEqual(ids(removed), ["b", "a"]);
    assert.equal(backend.kept.size, 0);
    assert.deepEqual(await store.list(), []);

    await store.restore(removed);
    assert.deepEqual(ids(await store.list()), ["b", "a"]);
});

test("restoring after new images were made keeps within the caps, oldest dropped", async () => {
    const { store } = images({ maxCount: 3, maxBytes: 1000 });
    await store.add([made("a", 1), made("b", 1, 10, 1)]);
    const removed = await store.clear();
    await store.add([made("c", 2)]);
    await store.add([made("d", 3)]);
    const dropped = await store.restore(removed);
    assert.deepEqual(ids(dropped), ["b"]);
    assert.deepEqual(ids(await store.list()), ["d", "c", "a"]);
});
