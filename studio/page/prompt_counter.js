// The Image tab's prompt counter, run in the browser at every change of the prompt: code points,
// once the whitespace around the prompt is trimmed, as websim_core's validate_prompt counts them,
// against its cap (`limit`).
(limit) => (text) => {
    const count = [...(text || "").trim()].length;
    const over = count - limit;
    const words = `${count.toLocaleString("en-US")} / ${limit.toLocaleString("en-US")}`;
    return over > 0
        ? `<span class="counter over">${words}: ${over.toLocaleString("en-US")} too many</span>`
        : `<span class="counter">${words}</span>`;
}
