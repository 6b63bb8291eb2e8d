// The browser's side of the conversations it keeps (studio/page/saved_chats.py): telling "nothing
// saved" from "saved but unreadable", which only the browser can see.
//
// Gradio's BrowserState writes its default over a value it could not decrypt as soon as it is on
// the page, so what was stored is read first, from the page's head (`remember`), before any
// component mounts. At load (`keepUnreadable`): was something stored that came through as the
// default, which alone carries the unread mark? Then it could not be decrypted (the server's
// secret changed). It is moved aside, so that it is said once and kept.
(storageKey, unreadMark) => ({
    remember: () => {
        window.websimStoredChats = localStorage.getItem(storageKey);
    },
    keepUnreadable: (library) => {
        const stored = window.websimStoredChats;
        window.websimStoredChats = null;
        if (library && library[unreadMark] && stored) {
            localStorage.setItem(`${storageKey}:unreadable:${Date.now()}`, stored);
            return { ...library, unreadable: true };
        }
        return library;
    },
})
