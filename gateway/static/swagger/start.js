// Swagger UI for the gateway's own /openapi.json. Kept out of the page so the
// Content-Security-Policy can forbid inline scripts.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  persistAuthorization: true,
  // The default validator badge is an image from validator.swagger.io.
  validatorUrl: null,
});
