const test = require("node:test");
const assert = require("node:assert/strict");
const { browserFile, wordsIn } = require("./browser_file.js");

const MODEL = "websim-default";
const PNG = Buffer.from("89504e470d0a1a0a", "hex");

// The browser around an export: the downloads it starts, the notices it shows, the files this
// server serves to it.
function browser(served = {}) {
    const downloads = [];
    const notices = [];
    const fetched = [];
    const element = (tag) => ({
        tag,
        style: {},
        setAttribute() {},
        remove() {},
        click() {
            downloads.push({ name: this.download, blob: this.blobs.get(this.href) });
        },
    });
    const blobs = new Map();
    const document = {
        createElement: (tag) => Object.assign(element(tag), { blobs }),
        querySelectorAll: () => [],
        body: {
            append: (node) => {
                if (node.tag === "div") notices.push(node.textContent);
            },
        },
    };
    const URL = {
        createObjectURL: (blob) => {
            const href = `blob:${blobs.size}`;
            blobs.set(href, blob);
            return href;
        },
        revokeObjectURL() {},
    };
    const fetch = async (address) => {
        fetched.push(address);
        const file = served[address];
        if (!file) return { ok: false, status: 404 };
        return { ok: true, status: 200, blob: async () => new Blob([file.data], { type: file.type }) };
    };
    class FileReader {
        readAsDataURL(blob) {
            blob.arrayBuffer().then((bytes) => {
                this.result = `data:${blob.type};base64,${Buffer.from(bytes).toString("base64")}`;
                this.onload();
            });
        }
    }
    // 3 December 2026, late in the evening where the user is: the file is named for their day.
    class Today extends Date {
        constructor(...given) {
            if (given.length) super(...given);
            else super(2026, 11, 3, 23, 30);
        }
    }
    const globals = { document, URL, Blob, fetch, FileReader, Date: Today, setTimeout: () => 0 };
    return { globals, downloads, notices, fetched };
}

function exporter(format, world) {
    return browserFile("exports.js", world.globals)(format, MODEL, wordsIn());
}

const picture = { type: "file", file: { path: "/tmp/gradio/abc/red dot.png", mime_type: "image/png" } };

function library(history, system_prompt = "") {
    return {
        chats: [
            { id: "other", history: [{ role: "user", content: "Not this one" }] },
            { id: "here", history, system_prompt },
        ],
        current: "here",
    };
}

const conversation = [
    { role: "user", content: "Café crème, ou thé? Which would a lighthouse keeper drink at dawn" },
    { role: "assistant", content: "Tea, **strong**." },
    { role: "assistant", content: "Websim is busy", metadata: { title: "⚠️ No reply" } },
    { role: "user", content: [{ type: "text", text: "And this one?" }, picture] },
    { role: "assistant", content: "A red dot." },
];

test("Markdown: the conversation on the page, its notes left out, images by file name", async () => {
    const world = browser();
    await exporter("markdown", world)(library(conversation, "  Be brief.  "));
    assert.deepEqual(world.notices, []);
    assert.equal(world.downloads.length, 1);
    const [{ name, blob }] = world.downloads;
    // Accents folded, cut between words at 40 characters, the user's own day.
    assert.equal(name, "websim-chat-2026-12-03-cafe-creme-ou-the-which-would-a.md");
    assert.equal(blob.type, "text/markdown;charset=utf-8");
    assert.equal(
        await blob.text(),
        [
            `# ${conversation[0].content}`,
            "",
            "A Websim Studio conversation.",
            "",
            "Model: `websim-default`",
            "",
            "## System",
            "",
            "Be brief.",
            "",
            "## You",
            "",
            conversation[0].content,
            "",
            "## Websim",
            "",
            "Tea, **strong**.",
            "",
            "## You",
            "",
            "And this one?",
            "",
            "![attached image](red dot.png)",
            "",
            "## Websim",
            "",
            "A red dot.",
            "",
        ].join("\n")
    );
});

test("JSON: what Websim is sent, attached images inlined from this server", async () => {
    const served = {
        "/gradio_api/file=/tmp/gradio/abc/red%20dot.png": { data: PNG, type: "image/png" },
    };
    const world = browser(served);
    await exporter("json", world)(library(conversation));
    const [{ name, blob }] = world.downloads;
    assert.match(name, /^websim-chat-2026-12-03-.*\.json$/);
    assert.deepEqual(JSON.parse(await blob.text()), {
        title: conversation[0].content,
        model: MODEL,
        system_prompt: "",
        messages: [
            { role: "user", content: conversation[0].content },
            { role: "assistant", content: "Tea, **strong**." },
            {
                role: "user",
                content: [
                    { type: "text", text: "And this one?" },
                    {
                        type: "image_url",
                        image_url: { url: `data:image/png;base64,${PNG.toString("base64")}` },
                    },
                ],
            },
            { role: "assistant", content: "A red dot." },
        ],
    });
});

test("JSON: an image given by URL goes as it is, fetched from nowhere", async () => {
    const world = browser();
    const byUrl = { type: "file", file: { path: "https://example.org/cat.png" } };
    await exporter("json", world)(library([{ role: "user", content: [byUrl] }]));
    const [{ blob }] = world.downloads;
    const sent = JSON.parse(await blob.text()).messages[0].content;
    assert.deepEqual(sent, [{ type: "image_url", image_url: { url: "https://example.org/cat.png" } }]);
    assert.deepEqual(world.fetched, []);
});

test("an image the server no longer has stops the export, in words", async () => {
    const world = browser({});
    await exporter("json", world)(library(conversation));
    assert.deepEqual(world.downloads, []);
    assert.deepEqual(world.notices, ["Not exported: red dot.png is no longer on the server."]);
});

test("nothing said yet: no file, and a notice saying so", async () => {
    for (const format of ["markdown", "json"]) {
        const world = browser();
        const onlyNotes = [{ role: "assistant", content: "…", metadata: { title: "⏳ Waiting" } }];
        await exporter(format, world)(library(onlyNotes));
        assert.deepEqual(world.downloads, []);
        assert.deepEqual(world.notices, ["Nothing to export yet: send a message first."]);
    }
});

test("a conversation opened with an image alone is named 'conversation'", async () => {
    const world = browser();
    await exporter("markdown", world)(library([{ role: "user", content: [picture] }]));
    assert.equal(world.downloads[0].name, "websim-chat-2026-12-03-conversation.md");
});

test("a renamed conversation is exported under its title, in the file's name and heading", async () => {
    for (const format of ["markdown", "json"]) {
        const world = browser();
        // Its words alone: the JSON would otherwise fetch the attached image.
        const kept = library(conversation.slice(0, 3));
        kept.chats[1].title = "  Tea at   the lighthouse ";
        await exporter(format, world)(kept);
        const [{ name, blob }] = world.downloads;
        assert.equal(name, `websim-chat-2026-12-03-tea-at-the-lighthouse.${format === "json" ? "json" : "md"}`);
        const text = await blob.text();
        if (format === "json") assert.equal(JSON.parse(text).title, "Tea at the lighthouse");
        else assert.equal(text.split("\n")[0], "# Tea at the lighthouse");
    }
});

test("a title with nothing a file name can hold names the file 'conversation'", async () => {
    const world = browser();
    const kept = library(conversation);
    kept.chats[1].title = "¿¡…!?";
    await exporter("markdown", world)(kept);
    const [{ name, blob }] = world.downloads;
    assert.equal(name, "websim-chat-2026-12-03-conversation.md");
    assert.equal((await blob.text()).split("\n")[0], "# ¿¡…!?");
});
