// Writes Debian's Fashion-MNIST (package dataset-fashion-mnist) out as image folders, and checks them.
//
//   dotnet run scripts/fashion-mnist-folders.cs -- write OUT [IDX-FOLDER]
//       OUT/png/{train,test}/{class}/{index}.png    8-bit grey PNG, the IDX bytes as they are
//       OUT/jpeg/{train,test}/{class}/{index}.jpg   8-bit grey JPEG, quality 90
//   dotnet run scripts/fashion-mnist-folders.cs -- check OUT [IDX-FOLDER]
//       loads OUT/png with SharpCnn.Images' ImageFolder (timed) and requires every one of the 70,000
//       images and labels to equal its IDX bytes exactly; loads OUT/jpeg and reports how far JPEG moved
//       the pixels. Exit code 1 when any PNG image differs.
//
// Class folders are named "{label}-{name}" (0-T-shirt-top ... 9-Ankle-boot), so their sorted order is the
// labels' order; files are named by their index in the IDX file, five digits, so a class folder's sorted
// order is the IDX order. IDX-FOLDER defaults to /usr/share/datasets/fashion-mnist.
#:project ../src/SharpCnn.Images/SharpCnn.Images.csproj
#:property TreatWarningsAsErrors=true

using System.Diagnostics;
using SharpCnn.Data;
using SharpCnn.Images;

if (args.Length is < 2 or > 3 || args[0] is not ("write" or "check"))
{
    Console.Error.WriteLine("usage: dotnet run scripts/fashion-mnist-folders.cs -- write|check OUT [IDX-FOLDER]");
    return 2;
}
string output = args[1];
string source = args.Length == 3 ? args[2] : FashionMnist.DebianFolder;
var (train, test) = FashionMnist.Load(source);
string[] classFolders = [.. FashionMnist.ClassNames.Select((name, label) => $"{label}-{name.Replace('/', '-').Replace(' ', '-')}")];
var sets = new (string Name, ImageDataSet Data)[] { ("train", train), ("test", test) };

if (args[0] == "write")
{
    var clock = Stopwatch.StartNew();
    foreach (var (format, extension) in new[] { (ImageFormat.Png, "png"), (ImageFormat.Jpeg, "jpg") })
    {
        string root = Path.Combine(output, extension == "png" ? "png" : "jpeg");
        foreach (var (name, data) in sets)
        {
            foreach (string folder in classFolders) Directory.CreateDirectory(Path.Combine(root, name, folder));
            Parallel.For(0, data.Count, i =>
            {
                byte[] bytes = ImageEncoder.Encode(PixelImage.FromDataSet(data, i), format, quality: 90);
                File.WriteAllBytes(Path.Combine(root, name, classFolders[data.Label(i)], $"{i:D5}.{extension}"), bytes);
            });
        }
        Console.WriteLine($"{root}: {train.Count:N0} training and {test.Count:N0} test images written");
    }
    Console.WriteLine($"written in {clock.Elapsed.TotalSeconds:F1} s");
    return 0;
}

int failures = 0;
foreach (string kind in new[] { "png", "jpeg" })
{
    string root = Path.Combine(output, kind);
    var clock = Stopwatch.StartNew();
    var loaded = ImageFolder.Load(new DataSelection { Source = root });
    double seconds = clock.Elapsed.TotalSeconds;
    var layout = ImageFolder.Scan(root);
    Console.WriteLine($"{root}: loaded {loaded.Train!.Count:N0} + {loaded.Test!.Count:N0} images ({loaded.Train!.Shape}) in {seconds:F1} s on {Environment.ProcessorCount} cores");
    long differing = 0, total = 0, absolute = 0;
    foreach (var (name, data, files) in new[] { ("train", loaded.Train!, layout.Train), ("test", loaded.Test, layout.Test!) })
    {
        var original = name == "train" ? train : test;
        if (data.Count != original.Count) throw new InvalidOperationException($"{root}/{name}: {data.Count} images, the IDX file has {original.Count}");
        if (!data.ClassNames!.SequenceEqual(classFolders)) throw new InvalidOperationException($"{root}/{name}: classes {string.Join(", ", data.ClassNames!)}");
        for (int i = 0; i < data.Count; i++)
        {
            int index = int.Parse(Path.GetFileNameWithoutExtension(files[i].Path), System.Globalization.CultureInfo.InvariantCulture);
            var decoded = data.Image(i);
            var expected = original.Image(index);
            if (data.Label(i) != original.Label(index))
            {
                Console.Error.WriteLine($"{files[i].Path}: label {data.Label(i)}, the IDX file says {original.Label(index)}");
                failures++;
            }
            bool same = decoded.SequenceEqual(expected);
            if (!same)
            {
                differing++;
                for (int p = 0; p < decoded.Length; p++) absolute += Math.Abs(decoded[p] - expected[p]);
                if (kind == "png" && failures++ < 10) Console.Error.WriteLine($"{files[i].Path}: the decoded pixels differ from image {index} of the IDX file");
            }
            total++;
        }
    }
    Console.WriteLine(kind == "png"
        ? $"{root}: {total - differing:N0} of {total:N0} images equal their IDX bytes exactly"
        : $"{root}: {differing:N0} of {total:N0} images differ from their IDX bytes (JPEG is lossy); mean |difference| {absolute / (double)(total * 784):F3} grey levels per pixel");
}
return failures == 0 ? 0 : 1;
