// The Chat tab's Markdown and JSON exports, built in the browser from the conversation the page
// keeps (studio/page/exports.py says what each file holds). One function expression, which
// studio/page/exports.py applies to a format and the model's label: Gradio evaluates a `js=`
// string as an expression and calls the function it gives with the listener's input values.
(format, model, say) => async (library) => {
    const NOTICE_SECONDS = 4;
    const TITLE_CHARS = 40;
    // The conversation on the page, as the browser keeps it (studio.page.saved_chats): its stored
    // text, not the escaped Markdown the Chatbot is given to show.
    const chats = Array.isArray(library?.chats) ? library.chats : [];
    const chat = chats.find((each) => each?.id === library?.current) || {};
    const history = chat.history;
    const systemPrompt = chat.system_prompt;

    // Gradio's toasts are raised by server events only; this export has none, so it shows its
    // own, in the same corner, and it goes away by itself. The page hides the buttons while
    // there is nothing to export; this notice covers the moment in between.
    const notice = (text) => {
        document.querySelectorAll(".websim-export-notice").forEach((shown) => shown.remove());
        const toast = document.createElement("div");
        toast.setAttribute("role", "status");
        toast.className = "websim-export-notice";
        toast.textContent = text;
        toast.style.cssText =
            "position:fixed;top:1rem;right:1rem;z-index:1000;max-width:22rem;" +
            "padding:0.75rem 1rem;border-radius:8px;font-size:0.9rem;" +
            "box-shadow:0 2px 8px rgba(0,0,0,0.2);" +
            "background:var(--background-fill-primary, #fff);" +
            "color:var(--body-text-color, #111);" +
            "border:1px solid var(--border-color-primary, #ddd);";
        document.body.append(toast);
        setTimeout(() => toast.remove(), NOTICE_SECONDS * 1000);
    };

    const isNote = (message) => Boolean(message?.metadata?.title);
    const partsOf = (message) => (Array.isArray(message.content) ? message.content : []);
    const textOf = (message) => {
        if (typeof message.content === "string") return message.content;
        return partsOf(message)
            .filter((part) => part?.type === "text" && typeof part.text === "string" && part.text)
            .map((part) => part.text)
            .join("\n\n");
    };
    const pathOf = (part) => part?.file?.path || part?.file?.url || "";
    const fileName = (path) => path.split(/[\\/]/).pop();

    const messages = (Array.isArray(history) ? history : []).filter(
        (message) => message && !isNote(message)
    );
    if (!messages.length) {
        notice(say("exports.nothing"));
        return;
    }
    const system = (systemPrompt || "").trim();

    const slugOf = (text) => {
        let slug = text
            .normalize("NFKD")
            .replace(/[\u0300-\u036f]/g, "")
            .toLowerCase()
            .replace(/[^a-z0-9]+/g, "-")
            .replace(/^-+|-+$/g, "");
        if (slug.length > TITLE_CHARS) {
            // Cut between words when there is a break in reach, not in the middle of one.
            const head = slug.slice(0, TITLE_CHARS + 1);
            const lastBreak = head.lastIndexOf("-");
            slug = lastBreak > 0 ? head.slice(0, lastBreak) : slug.slice(0, TITLE_CHARS);
        }
        return slug;
    };
    // The conversation's title as the sidebar shows it, renamed or not; a library kept before
    // titles were, the first thing said.
    const firstSaid = messages.find((message) => message.role === "user" && textOf(message));
    const heading =
        (typeof chat.title === "string" && chat.title.split(/\s+/).join(" ").trim()) ||
        (firstSaid && textOf(firstSaid).split(/\s+/).join(" ").trim()) ||
        "";
    const title = slugOf(heading) || "conversation";
    // The user's own calendar day, not UTC's.
    const now = new Date();
    const day = [now.getFullYear(), now.getMonth() + 1, now.getDate()]
        .map((number) => String(number).padStart(2, "0"))
        .join("-");

    const download = (text, type, extension) => {
        const link = document.createElement("a");
        link.href = URL.createObjectURL(new Blob([text], { type }));
        link.download = `websim-chat-${day}-${title}.${extension}`;
        link.style.display = "none";
        document.body.append(link);
        link.click();
        link.remove();
        // Revoked a while later: revoking at once can cancel the download before it has begun.
        setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    };

    if (format === "markdown") {
        const lines = [`# ${heading || "Websim Studio conversation"}`, ""];
        lines.push("A Websim Studio conversation.", "", `Model: \`${model}\``, "");
        if (system) lines.push("## System", "", system, "");
        for (const message of messages) {
            lines.push(message.role === "user" ? "## You" : "## Websim", "");
            const text = textOf(message);
            if (text) lines.push(text, "");
            for (const part of partsOf(message)) {
                const path = part?.type === "file" ? pathOf(part) : "";
                if (path) lines.push(`![attached image](${fileName(path)})`, "");
            }
        }
        download(lines.join("\n"), "text/markdown;charset=utf-8", "md");
        return;
    }

    // An attached image as a data URL, fetched from this server, which served it to the page.
    const dataUrl = async (part) => {
        const path = pathOf(part);
        const name = fileName(path) || "an attached image";
        // Images given by URL (as the `/chat` API takes them) are sent as they are.
        if (/^(https?:|data:)/.test(part.file?.path || "")) return part.file.path;
        let blob;
        try {
            // Kept messages hold the file's path on the server, which serves it from there.
            const root = (window.gradio_config?.root || "").replace(/\/$/, "");
            const served = `${root}/gradio_api/file=${encodeURI(path)}`;
            const response = await fetch(part.file?.url || served);
            if (!response.ok) throw new Error(`${response.status}`);
            blob = await response.blob();
        } catch {
            throw new Error(`${name} is no longer on the server`);
        }
        const type = part.file?.mime_type || blob.type;
        if (!type.startsWith("image/")) throw new Error(`${name} is not an image`);
        return await new Promise((resolve, reject) => {
            const reader = new FileReader();
            reader.onload = () => resolve(reader.result);
            reader.onerror = () => reject(new Error(`${name} could not be read`));
            reader.readAsDataURL(new Blob([blob], { type }));
        });
    };
    const websimContent = async (content) => {
        if (!Array.isArray(content)) return content;
        const parts = [];
        for (const part of content) {
            if (part?.type === "file") {
                parts.push({ type: "image_url", image_url: { url: await dataUrl(part) } });
            } else if (part?.type === "text") {
                parts.push({ type: "text", text: part.text ?? "" });
            } else {
                parts.push(part);
            }
        }
        if (parts.every((part) => part?.type === "text")) {
            return parts.map((part) => String(part.text ?? "")).join("\n\n");
        }
        return parts;
    };
    const sent = [];
    try {
        for (const message of messages) {
            sent.push({ role: message.role, content: await websimContent(message.content) });
        }
    } catch (error) {
        notice(say("exports.failed", { reason: error.message }));
        return;
    }
    const exported = { title: heading, model, system_prompt: system, messages: sent };
    download(JSON.stringify(exported, null, 2), "application/json", "json");
}
