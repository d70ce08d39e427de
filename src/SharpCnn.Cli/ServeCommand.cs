using System.CommandLine;
using SharpCnn.Data;
using SharpCnn.Images;
using SharpCnn.Web.Serving;

namespace SharpCnn.Cli;

/// <summary><c>sharpcnn serve MODEL</c>: serves a saved model over HTTP (POST /predict, a drawing page, health and metrics) until Ctrl-C or SIGTERM.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new ServeOptions();
        var file = new Argument<string>("model") { Description = "A model file saved by 'sharpcnn train --output' (.scnn), or an ONNX model (.onnx, imported on the fly)", HelpName = "MODEL" };
        var port = new Option<int>("--port", "-p") { Description = "The port to listen on (0: any free port, printed)", DefaultValueFactory = _ => defaults.Port, HelpName = "N" };
        var host = new Option<string>("--host") { Description = "The address to listen on: an IP address, localhost, or * for every interface (only on a network you trust)", DefaultValueFactory = _ => defaults.Host };
        var maxBatch = new Option<int>("--max-batch") { Description = "The most waiting requests one forward pass takes (dynamic batching)", DefaultValueFactory = _ => defaults.MaxBatch, HelpName = "N" };
        var maxQueue = new Option<int>("--max-queue") { Description = "The most requests waiting for the model; more are answered 503 with Retry-After", DefaultValueFactory = _ => defaults.MaxQueue, HelpName = "N" };
        var maxBody = new Option<int>("--max-body-mb") { Description = "The largest request body accepted, in MiB (larger: 413)", DefaultValueFactory = _ => (int)(defaults.MaxBodyBytes >> 20), HelpName = "MB" };
        var timeout = new Option<double>("--timeout") { Description = "Seconds a request may wait for the model before it is answered 503", DefaultValueFactory = _ => defaults.RequestTimeout.TotalSeconds, HelpName = "S" };
        var check = new Option<bool>("--check") { Description = "Start, classify one bundled test digit through POST /predict over HTTP, print the answer and stop: checks that the model serves" };
        var threads = ThreadsOption.Create();
        var command = new Command("serve",
            "Serve a saved model over HTTP until Ctrl-C or SIGTERM: POST /predict takes an image (JPEG, PNG, WebP, BMP, GIF; the raw body or the form field 'image'; ?top=k) and answers " +
            "the top classes as JSON, preprocessed as 'predict' does; GET / is a page with the model's summary and a canvas to draw a digit on; GET /health and GET /metrics. " +
            "Concurrent requests are batched into one forward pass. See docs/SERVING.md.")
        {
            file, port, host, maxBatch, maxQueue, maxBody, timeout, threads, check,
        };
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            var output = r.InvocationConfiguration.Output;
            int count = ThreadsOption.Apply(r.GetValue(threads));
            double seconds = r.GetValue(timeout);
            if (!(seconds > 0 && seconds <= 3600)) throw new ArgumentException($"--timeout must be above 0 and at most 3600 seconds, not {seconds}");
            int mb = r.GetValue(maxBody);
            if (mb is < 1 or > 256) throw new ArgumentException($"--max-body-mb must be 1..256, not {mb}");
            var options = new ServeOptions
            {
                Port = r.GetValue(port),
                Host = r.GetValue(host)!,
                MaxBatch = r.GetValue(maxBatch),
                MaxQueue = r.GetValue(maxQueue),
                MaxBodyBytes = (long)mb << 20,
                RequestTimeout = TimeSpan.FromSeconds(seconds),
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"{e.Message} (--port, --max-batch, --max-queue)", e);
            }
            string path = r.GetValue(file)!;
            var network = SavedModel.Load<float>(path, out string kind);
            var model = new Classifier<float>(network);
            var server = ModelServer.Create(model, Path.GetFileName(path), options);
            try
            {
                server.StartAsync().GetAwaiter().GetResult();
                output.WriteLine($"model {path}{(kind == "model file" ? "" : $" ({kind})")}: {model.Spec} (input {model.InputShape}, {model.Classes} classes; batches of up to {options.MaxBatch}, {count} threads)");
                foreach (string url in server.Urls) output.WriteLine($"serving on {url}  (POST {url}/predict; Ctrl-C to stop)");
                output.Flush();
                if (r.GetValue(check))
                {
                    output.WriteLine(Check(server.Urls[0], model).GetAwaiter().GetResult());
                    return 0;
                }
                server.RunAsync().GetAwaiter().GetResult();
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            output.WriteLine("stopped");
            return 0;
        }));
        return command;
    }

    /// <summary>Posts the first bundled test digit (as a PNG, at the model's channels) to the server at <paramref name="url"/>; the answer, or an error when it is not 200.</summary>
    private static async Task<string> Check(string url, Classifier<float> model)
    {
        var (_, test) = BundledDigits.Load();
        var image = PixelImage.FromDataSet(test, 0).ToChannels(model.InputShape.Channels);
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        using var content = new ByteArrayContent(ImageEncoder.Encode(image, ImageFormat.Png));
        content.Headers.ContentType = new("image/png");
        using var response = await client.PostAsync(url + "/predict?top=1", content);
        string body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new IOException($"POST {url}/predict answered {(int)response.StatusCode}: {body}");
        return $"check: a bundled test digit labelled {test.Labels[0]} -> {body}";
    }
}
