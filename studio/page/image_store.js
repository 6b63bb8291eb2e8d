// The images made in this browser, kept in it as bytes (the Image tab's gallery: image_gallery.js),
// so that they outlive reloads, server restarts and the server's own copies, which age out.
//
// `keep(backend)` is the store: at most `limits.maxCount` images and `limits.maxBytes` bytes,
// the oldest dropped first once either is passed (the newest image always stays); `clear` hands
// back what it removed, for `restore` to put back (Undo). `indexed(indexedDB)` is the backend the
// page uses, an IndexedDB object store; tests give the store a backend of their own.
// A record is { id, made (ms), index (its place in its batch), prompt, ratio, name, size, blob }.
(limits) => {
    // Oldest first; in a batch (one `made`), its first image counts as the newest.
    const byAge = (a, b) => a.made - b.made || b.index - a.index;

    const keep = (backend) => {
        // Oldest first, until what is left fits; never the newest.
        const trim = async () => {
            const all = (await backend.all()).sort(byAge);
            let count = all.length;
            let bytes = all.reduce((sum, record) => sum + (record.size || 0), 0);
            const dropped = [];
            for (const record of all.slice(0, -1)) {
                if (count <= limits.maxCount && bytes <= limits.maxBytes) break;
                dropped.push(record);
                count -= 1;
                bytes -= record.size || 0;
            }
            if (dropped.length) await backend.remove(dropped.map((record) => record.id));
            return dropped;
        };
        return {
            // Newest first, as the gallery shows them.
            list: async () => (await backend.all()).sort(byAge).reverse(),
            // Keeps `records` (the same id again replaces it); what made room is returned.
            add: async (records) => {
                for (const record of records) await backend.put(record);
                return trim();
            },
            clear: async () => {
                const all = (await backend.all()).sort(byAge).reverse();
                await backend.clear();
                return all;
            },
            restore: async (records) => {
                for (const record of records) await backend.put(record);
                return trim();
            },
        };
    };

    const indexed = (indexedDB, name = "websim-studio-images") => {
        const STORE = "images";
        let opened = null;
        const database = () => {
            opened ??= new Promise((done, failed) => {
                const request = indexedDB.open(name, 1);
                request.onupgradeneeded = () =>
                    request.result.createObjectStore(STORE, { keyPath: "id" });
                request.onsuccess = () => done(request.result);
                request.onerror = () => failed(request.error);
            });
            return opened;
        };
        // One transaction; resolves with `act`'s request's result once it is committed.
        const run = async (mode, act) => {
            const db = await database();
            return new Promise((done, failed) => {
                const transaction = db.transaction(STORE, mode);
                const request = act(transaction.objectStore(STORE));
                transaction.oncomplete = () => done(request ? request.result : undefined);
                transaction.onerror = () => failed(transaction.error);
                transaction.onabort = () => failed(transaction.error);
            });
        };
        return {
            all: () => run("readonly", (store) => store.getAll()),
            put: (record) => run("readwrite", (store) => store.put(record)),
            remove: (ids) =>
                run("readwrite", (store) => {
                    for (const id of ids) store.delete(id);
                }),
            clear: () => run("readwrite", (store) => store.clear()),
        };
    };

    return { keep, indexed };
}
