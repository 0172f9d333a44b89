//! The wasm entry point. Everything else lives in the `app` crate.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Readable panics in the console in debug builds only: the nightly release build
    // (.ci/leptos) aborts before any hook could run, and a plain release build saves the
    // hook's bytes the same way.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
