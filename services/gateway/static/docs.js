// Swagger UI over the gateway's own document; "Try it out" calls this same origin.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // the API token the dashboard stored, if access control asks for one
  requestInterceptor: (request) => {
    const token = localStorage.getItem("apiToken");
    if (token && !request.headers.Authorization) request.headers.Authorization = "Bearer " + token;
    return request;
  },
});
