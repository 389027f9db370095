// The recording page: copy the player's position into the flag form's clip fields.
// Progressive enhancement: the buttons are hidden until this runs; the fields can always be typed.
"use strict";
(() => {
  const video = document.getElementById("player");
  const status = document.getElementById("clip-status");
  if (!video) return;
  document.querySelectorAll("[data-clip-from-player]").forEach((btn) => {
    const input = document.getElementById(btn.getAttribute("data-clip-from-player"));
    if (!input) return;
    btn.hidden = false;
    btn.addEventListener("click", () => {
      const at = Number.isFinite(video.currentTime) ? video.currentTime : 0;
      input.value = at.toFixed(2);
      input.dispatchEvent(new Event("change", { bubbles: true }));
      if (status) {
        const label = document.querySelector(`label[for="${input.id}"]`);
        status.textContent = `${label ? label.textContent : input.name} set to ${at.toFixed(2)} s from the player.`;
      }
    });
  });
})();
