// Run once the kept conversation is on the page: the sidebar listing it opens where there is
// room beside the conversation, and the page is marked, for whatever waits on that (the tests).
() => {
    const toggle = document.querySelector("#sidebar .toggle-button");
    const wide = window.matchMedia("(min-width: 1100px)").matches;
    if (wide && toggle && !toggle.closest(".sidebar.open")) toggle.click();
    requestAnimationFrame(() => { document.body.dataset.chatRestored = "yes"; });
}
