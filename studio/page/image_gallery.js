// The Image tab's result and gallery, drawn by the browser from the images it keeps (image_store.js).
// The `js_on_load` of two gr.HTML components (studio/page/image_tab.py), by `part`:
// - "result": its value is the server's word on the images just made (JSON: batch, made, prompt,
//   ratio, images: [{ url, name }]), or "" for none. Each image is fetched from this server and
//   kept, then shown from its bytes with a download each; one below the screen (a phone) is
//   scrolled into view.
// - "gallery": every image kept, newest first. A click shows one large with its prompt and ratio,
//   a download and "Use this prompt again"; Esc, Close or a click beside it closes it. "Clear
//   images" empties the gallery and offers Undo.
// Both share one store (window.websimImages) and redraw at its "websim-images-changed" event.
// Everything a person typed is set as text, never as markup. Its words are `say`'s (words.js).
(element, props, watch, images, part, say) => {
    const shared = (window.websimImages ??= {
        store: images.keep(images.indexed(window.indexedDB)),
        cleared: null, // what "Clear images" removed, while Undo can bring it back
        changed: () => window.dispatchEvent(new Event("websim-images-changed")),
    });
    const make = (tag, attributes = {}, ...children) => {
        const node = document.createElement(tag);
        for (const [key, value] of Object.entries(attributes)) {
            if (key === "text") node.textContent = value;
            else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
            else node.setAttribute(key, value);
        }
        node.append(...children);
        return node;
    };
    const root = make("div", { class: `images-${part}` });
    element.append(root);
    // Object URLs of what `root` shows, let go once it shows something else.
    let shown = [];
    let drawing = [];
    const urlOf = (blob) => {
        const url = URL.createObjectURL(blob);
        drawing.push(url);
        return url;
    };
    const redraw = (...children) => {
        for (const url of shown) URL.revokeObjectURL(url);
        [shown, drawing] = [drawing, []];
        root.replaceChildren(...children);
    };
    const downloadLink = (url, name, label) =>
        make("a", { class: "image-download", href: url, download: name, text: label });

    // The prompt and ratio back in the tab's boxes, as if typed and chosen.
    const reuse = (record) => {
        const box = document.querySelector("#prompt textarea");
        if (box) {
            box.value = record.prompt;
            box.dispatchEvent(new Event("input", { bubbles: true }));
        }
        const ratios = document.querySelectorAll("#aspect-ratio input[type=radio]");
        const ratio = [...ratios].find((input) => input.value === record.ratio);
        if (ratio && !ratio.checked) ratio.click();
        if (box) {
            box.focus({ preventScroll: true });
            box.scrollIntoView({ block: "center" });
        }
    };

    const view = (record, opener) => {
        const url = URL.createObjectURL(record.blob);
        let reused = false;
        const dialog = make("dialog", { class: "image-view", "aria-label": say("images.view") });
        const close = make("button", {
            type: "button",
            class: "image-view-close",
            text: say("images.close"),
            onclick: () => dialog.close(),
        });
        dialog.append(
            make("img", { src: url, alt: record.prompt }),
            make("p", { class: "image-view-prompt", text: record.prompt }),
            make("p", { class: "image-view-ratio", text: say("images.ratio", { ratio: record.ratio }) }),
            make(
                "div",
                { class: "image-view-actions" },
                downloadLink(url, record.name, say("images.download")),
                make("button", {
                    type: "button",
                    class: "image-view-reuse",
                    text: say("images.reuse"),
                    onclick: () => {
                        reused = true;
                        dialog.close();
                        reuse(record);
                    },
                }),
                close,
            ),
        );
        // A click on the dim backdrop around the picture closes it too.
        dialog.addEventListener("click", (event) => event.target === dialog && dialog.close());
        dialog.addEventListener("close", () => {
            URL.revokeObjectURL(url);
            dialog.remove();
            if (!reused && opener.isConnected) opener.focus();
        });
        element.append(dialog);
        dialog.showModal();
        close.focus();
    };

    const drawGallery = async () => {
        let records;
        try {
            records = await shared.store.list();
        } catch (error) {
            redraw(make("p", { class: "images-note", text: say("images.unkept") }));
            return;
        }
        const head = make(
            "div",
            { class: "gallery-head" },
            make("h2", {
                text: records.length
                    ? say("images.yours_count", { count: records.length })
                    : say("images.yours"),
            }),
        );
        if (records.length) {
            head.append(
                make("button", {
                    type: "button",
                    class: "gallery-clear",
                    text: say("images.clear"),
                    onclick: async () => {
                        shared.cleared = await shared.store.clear();
                        shared.changed();
                    },
                }),
            );
        }
        const parts = [head];
        if (shared.cleared) {
            const removed = shared.cleared;
            parts.push(
                make(
                    "p",
                    { class: "gallery-undo", role: "status" },
                    (removed.length === 1
                        ? say("images.cleared_one")
                        : say("images.cleared", { count: removed.length })) + " ",
                    make("button", {
                        type: "button",
                        text: say("images.undo"),
                        onclick: async () => {
                            shared.cleared = null;
                            await shared.store.restore(removed);
                            shared.changed();
                        },
                    }),
                ),
            );
        }
        if (!records.length && !shared.cleared) {
            parts.push(
                make("p", {
                    class: "images-note",
                    text: say("images.empty"),
                }),
            );
        }
        const grid = make("ul", { class: "gallery-grid", "aria-label": say("images.yours") });
        for (const record of records) {
            const open = make(
                "button",
                { type: "button", class: "gallery-item" },
                make("img", { src: urlOf(record.blob), alt: record.prompt, loading: "lazy" }),
                make("span", { class: "gallery-caption", "aria-hidden": "true" }, record.prompt),
            );
            open.addEventListener("click", () => view(record, open));
            grid.append(make("li", {}, open));
        }
        if (records.length) parts.push(grid);
        redraw(...parts);
    };

    // The result's value, drawn and kept; a newer value than the one being fetched wins.
    let latest = 0;
    const drawResult = async () => {
        const asked = ++latest;
        let batch = null;
        try {
            batch = props.value ? JSON.parse(props.value) : null;
        } catch (error) {
            batch = null;
        }
        if (!batch || !batch.images || !batch.images.length) {
            redraw(make("p", { class: "images-note", text: say("images.soon") }));
            return;
        }
        const fetched = await Promise.all(
            batch.images.map(async (image) => {
                try {
                    const answer = await fetch(image.url);
                    return answer.ok ? await answer.blob() : null;
                } catch (error) {
                    return null;
                }
            }),
        );
        if (asked !== latest) return;
        const records = batch.images
            .map((image, index) => ({
                id: `${batch.batch}-${index}`,
                made: batch.made,
                index,
                prompt: batch.prompt,
                ratio: batch.ratio,
                name: image.name,
                size: fetched[index] ? fetched[index].size : 0,
                blob: fetched[index],
            }))
            .filter((record) => record.blob);
        const grid = make("div", { class: `result-grid result-of-${batch.images.length}` });
        records.forEach((record, index) => {
            const url = urlOf(record.blob);
            const label = records.length > 1
                    ? say("images.download_one", { number: index + 1 })
                    : say("images.download");
            grid.append(
                make(
                    "figure",
                    { class: "result-image" },
                    make("img", { src: url, alt: record.prompt }),
                    downloadLink(url, record.name, label),
                ),
            );
        });
        const said = [grid, make("p", { id: "result-caption", text: batch.prompt })];
        if (records.length < batch.images.length) {
            const lost = batch.images.length - records.length;
            said.push(
                make("p", {
                    class: "images-note",
                    role: "alert",
                    text: lost === 1 ? say("images.lost_one") : say("images.lost", { count: lost }),
                }),
            );
        }
        try {
            await shared.store.add(records);
            shared.cleared = null;
        } catch (error) {
            said.push(
                make("p", {
                    class: "images-note",
                    role: "alert",
                    text: say("images.not_kept"),
                }),
            );
        }
        if (asked !== latest) return;
        redraw(...said);
        shared.changed();
        // Below the screen, as on a phone where it comes after the whole form: brought into view.
        const first = grid.querySelector("img");
        if (first) {
            await first.decode().catch(() => undefined);
            if (asked !== latest) return;
            const box = root.getBoundingClientRect();
            if (box.top < 0 || box.top > window.innerHeight * 0.6) {
                const calm = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
                root.scrollIntoView({ block: "start", behavior: calm ? "auto" : "smooth" });
            }
        }
    };

    if (part === "result") {
        watch("value", drawResult);
        drawResult();
    } else {
        window.addEventListener("websim-images-changed", drawGallery);
        drawGallery();
    }
}
