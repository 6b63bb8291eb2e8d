// Images come from this server only (the page's Content-Security-Policy). The message box is
// focused where there is room to show the whole page around it; on a phone focusing it scrolls
// the page and raises the keyboard, so there it waits for a tap. (The conversations sidebar opens
// by itself on a wide screen: chat_tab.js, once the page is restored.)
(() => {
    const wide = () => window.matchMedia("(min-width: 1100px)").matches;
    const ready = (selector, then, tries = 200) => {
        const found = document.querySelector(selector);
        if (found) then(found);
        else if (tries > 0) setTimeout(() => ready(selector, then, tries - 1), 50);
    };
    const arrange = () => {
        if (!wide()) return;
        ready("#draft textarea", (box) => box.focus({ preventScroll: true }));
    };
    // Gradio adds this to the head itself, sometimes after the page's load event.
    if (document.readyState === "complete") arrange();
    else window.addEventListener("load", arrange);
})();
