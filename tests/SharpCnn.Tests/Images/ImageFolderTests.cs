using SharpCnn.Data;
using SharpCnn.Images;
using SharpCnn.Tensors;
using SharpCnn.Tests.Hostile;

namespace SharpCnn.Tests.Images;

[Collection(ThreadCountCollection.Name)]
public sealed class ImageFolderTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("sharpcnn-folder-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    /// <summary>
    /// Writes bundled test digits <paramref name="from"/>..+<paramref name="count"/> as <paramref name="format"/> files into
    /// <paramref name="folder"/>/{digit}/{index}.{ext}; returns the data set they came from.
    /// </summary>
    internal static ImageDataSet WriteDigits(string folder, int from, int count, ImageFormat format = ImageFormat.Png, string[]? classFolders = null)
    {
        var (_, test) = BundledDigits.Load();
        var digits = test.Subset(from, count);
        string ext = format == ImageFormat.Jpeg ? "jpg" : format.ToString().ToLowerInvariant();
        for (int i = 0; i < digits.Count; i++)
        {
            string dir = Path.Combine(folder, classFolders?[digits.Label(i)] ?? $"digit{digits.Label(i)}");
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(Path.Combine(dir, $"{from + i:D5}.{ext}"), ImageEncoder.Encode(PixelImage.FromDataSet(digits, i), format, 90));
        }
        return digits;
    }

    [Fact]
    public void EveryImageDecodedFromAPngFolderEqualsItsIdxBytes()
    {
        // The always-running form of the Fashion-MNIST comparison .ci/run makes on all 70,000 images.
        var train = WriteDigits(Path.Combine(root, "train"), 0, 300);
        var test = WriteDigits(Path.Combine(root, "test"), 300, 100);
        var loaded = ImageFolder.Load(new DataSelection { Source = root }, cancellation: TestContext.Current.CancellationToken);
        var layout = ImageFolder.Scan(root);
        Assert.Equal([.. Enumerable.Range(0, 10).Select(d => $"digit{d}")], loaded.Train!.ClassNames);
        Assert.Equal(new Shape(1, 28, 28), loaded.Train!.Shape);
        foreach (var (data, files, original, offset) in new[] { (loaded.Train, layout.Train, train, 0), (loaded.Test!, layout.Test!, test, 300) })
        {
            Assert.Equal(original.Count, data.Count);
            for (int i = 0; i < data.Count; i++)
            {
                int index = int.Parse(Path.GetFileNameWithoutExtension(files[i].Path), System.Globalization.CultureInfo.InvariantCulture) - offset;
                Assert.True(data.Image(i).SequenceEqual(original.Image(index)), $"{files[i].Path} differs from digit {index}");
                Assert.Equal(original.Label(index), data.Label(i));
            }
        }
        Assert.Empty(loaded.Skipped);
        Assert.Equal((0, 0), (loaded.Converted, loaded.Resized));
    }

    [Fact]
    public void ClassesAreTheSortedFolderNamesAndOtherFilesAreIgnored()
    {
        WriteDigits(root, 0, 40, classFolders: ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]);
        File.WriteAllText(Path.Combine(root, "README.txt"), "not an image");
        File.WriteAllText(Path.Combine(root, "one", "notes.txt"), "not an image");
        Directory.CreateDirectory(Path.Combine(root, ".cache", "x"));
        File.Copy(Directory.GetFiles(Path.Combine(root, "one"), "*.png")[0], Path.Combine(root, ".cache", "x", "a.png"));
        Directory.CreateDirectory(Path.Combine(root, "two", "more"));
        File.Copy(Directory.GetFiles(Path.Combine(root, "two"), "*.png")[0], Path.Combine(root, "two", "more", "b.PNG"));
        var layout = ImageFolder.Scan(root);
        Assert.Equal(["eight", "five", "four", "nine", "one", "seven", "six", "three", "two", "zero"], layout.ClassNames);
        Assert.Null(layout.Test);
        Assert.Equal(41, layout.Train!.Count); // the nested b.PNG counts; .cache and the text files do not
        Assert.Equal(Enumerable.Range(0, layout.Train!.Count).Select(i => layout.Train[i].Label).Order(), layout.Train.Select(f => f.Label));
    }

    [Fact]
    public void ColourFoldersLoadInThreeChannelsOrConvertedToOne()
    {
        for (int c = 0; c < 2; c++)
        {
            string dir = Path.Combine(root, c == 0 ? "red" : "blue");
            Directory.CreateDirectory(dir);
            for (int i = 0; i < 3; i++)
            {
                byte[] planes = new byte[3 * 16];
                for (int p = 0; p < 16; p++) planes[(c == 0 ? 0 : 2) * 16 + p] = (byte)(200 + i);
                File.WriteAllBytes(Path.Combine(dir, $"{i}.png"), ImageEncoder.Encode(new PixelImage(3, 4, 4, planes), ImageFormat.Png));
            }
        }
        var colour = ImageFolder.Load(new DataSelection { Source = root }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(new Shape(3, 4, 4), colour.Train!.Shape);
        Assert.Equal(["blue", "red"], colour.Train!.ClassNames);
        Assert.Equal(202, colour.Train!.Image(2)[2 * 16]); // blue/2.png: blue plane
        Assert.Equal(0, colour.Train!.Image(2)[0]);
        var grey = ImageFolder.Load(new DataSelection { Source = root, Channels = 1 }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(new Shape(1, 4, 4), grey.Train!.Shape);
        Assert.Equal(6, grey.Converted);
        Assert.Equal(PixelImage.Luma(0, 0, 202), grey.Train!.Image(2)[0]);
    }

    [Fact]
    public void ImagesOfDifferentSizesNeedASizeAndAreResizedWithOne()
    {
        WriteDigits(root, 0, 20);
        string odd = Path.Combine(root, "digit3", "big.png");
        File.WriteAllBytes(odd, ImageEncoder.Encode(PixelImage.FromDataSet(BundledDigits.Load().Test, 0).Resize(56, 40), ImageFormat.Png));
        var e = Assert.Throws<ImageFolderException>(() => ImageFolder.Load(new DataSelection { Source = root }, cancellation: TestContext.Current.CancellationToken));
        Assert.True(e.SizeMismatch);
        Assert.StartsWith(odd + ": the image is 56x40", e.Message);
        var resized = ImageFolder.Load(new DataSelection { Source = root, Width = 14, Height = 12 }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(new Shape(1, 12, 14), resized.Train!.Shape);
        Assert.Equal(21, resized.Resized);
    }

    [Fact]
    public void AnUnreadableFileStopsTheLoadNamingItOrIsSkippedAndReported()
    {
        WriteDigits(root, 0, 30);
        string bad = Path.Combine(root, "digit1", "broken.jpg");
        File.WriteAllText(bad, "this is not a JPEG");
        string cut = Path.Combine(root, "digit7", "cut.png");
        byte[] png = File.ReadAllBytes(Directory.GetFiles(Path.Combine(root, "digit7"))[0]);
        File.WriteAllBytes(cut, png[..(png.Length / 2)]);
        var e = Assert.Throws<ImageFolderException>(() => ImageFolder.Load(new DataSelection { Source = root }, cancellation: TestContext.Current.CancellationToken));
        Assert.StartsWith(bad + ": expected a JPEG, PNG, WebP, BMP or GIF image, found 74 68 69 73", e.Message);
        Assert.Contains("(2 of the 32 train images do not decode)", e.Message);
        Assert.Equal([bad, cut], e.Unreadable.Select(u => u.Path));
        var skipped = ImageFolder.Load(new DataSelection { Source = root, SkipUnreadable = true }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(30, skipped.Train!.Count);
        Assert.Equal([bad, cut], skipped.Skipped.Select(u => u.Path));
        Assert.Contains("do not decode", skipped.Skipped[1].Reason);
        var clean = ImageFolder.Load(new DataSelection { Source = root, SkipUnreadable = true }, cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(clean.Train!.Fingerprint(), skipped.Train!.Fingerprint());
    }

    [Fact]
    public void TheResultIsTheSameOnOneThreadAndTwo()
    {
        WriteDigits(root, 0, 200, ImageFormat.Jpeg);
        ulong Load(int threads)
        {
            using var scope = new ThreadCountScope(threads);
            return ImageFolder.Load(new DataSelection { Source = root, Width = 20, Height = 20, Channels = 3 }, cancellation: TestContext.Current.CancellationToken).Train!.Fingerprint();
        }
        Assert.Equal(Load(1), Load(2));
    }

    [Fact]
    public void FoldersThatAreNotImageFoldersAreRefusedClearly()
    {
        Directory.CreateDirectory(Path.Combine(root, "only"));
        File.WriteAllBytes(Path.Combine(root, "only", "a.png"), ImageEncoder.Encode(new PixelImage(1, 2, 2, [1, 2, 3, 4]), ImageFormat.Png));
        Assert.Contains("found 1 class folder", Assert.Throws<ImageFolderException>(() => ImageFolder.Scan(root)).Message);
        Directory.CreateDirectory(Path.Combine(root, "train", "a"));
        Directory.CreateDirectory(Path.Combine(root, "train", "b"));
        Assert.Contains("the class folders hold no images", Assert.Throws<ImageFolderException>(() => ImageFolder.Scan(root)).Message);
        WriteDigits(Path.Combine(root, "train"), 0, 10);
        WriteDigits(Path.Combine(root, "test"), 10, 5, classFolders: [.. Enumerable.Range(0, 10).Select(d => $"other{d}")]);
        Assert.Contains("the test set has a class 'other", Assert.Throws<ImageFolderException>(() => ImageFolder.Scan(root)).Message);
        var memory = Assert.Throws<ImageFolderException>(() => ImageFolder.CheckMemory(root, 2_000_000, new Shape(3, 224, 224)));
        Assert.Contains("2,000,000 images of 3x224x224 need 280.4 GiB of memory", memory.Message);
    }
}
