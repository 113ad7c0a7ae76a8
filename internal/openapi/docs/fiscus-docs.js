// Renders the API description with Swagger UI. This file exists because the
// Content-Security-Policy allows no inline scripts. Every URL is relative to
// /docs, so the page also works behind a reverse proxy that adds a path prefix.
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    displayOperationId: true,
    defaultModelsExpandDepth: 1,
    docExpansion: "list",
    // The default validator is an external service: nothing leaves this page.
    validatorUrl: null,
    // Requests from "Try it out" go to this server only.
    supportedSubmitMethods: ["get", "put", "post", "delete", "patch"],
  });
});
