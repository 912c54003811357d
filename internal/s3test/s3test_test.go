package s3test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestServerServesS3: the server takes an object from minio-go and gives it back, and an
// independent client (boto3, where installed) reads the same bytes.
func TestServerServesS3(t *testing.T) {
	s := Start(t)
	cl, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: s.Region})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := bytes.Repeat([]byte("the whale and the sea\n"), 50000)
	if _, err := cl.PutObject(ctx, s.Bucket, "dir/text.txt", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put: %v", err)
	}
	obj, err := cl.GetObject(ctx, s.Bucket, "dir/text.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("get: %d bytes, %v; want the %d put", len(got), err, len(body))
	}
	py, err := exec.LookPath("python3")
	if err != nil || exec.Command(py, "-c", "import boto3").Run() != nil {
		t.Log("no python3 with boto3: the independent read is skipped")
		return
	}
	script := `import boto3,sys,hashlib
c=boto3.client("s3",endpoint_url="http://"+sys.argv[1],aws_access_key_id=sys.argv[2],aws_secret_access_key=sys.argv[3],region_name="us-east-1")
b=c.get_object(Bucket=sys.argv[4],Key="dir/text.txt")["Body"].read()
print(len(b), hashlib.sha256(b).hexdigest())`
	out, err := exec.Command(py, "-c", script, s.Endpoint, s.AccessKey, s.SecretKey, s.Bucket).CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v: %s", err, out)
	}
	sum := sha256.Sum256(body)
	if want := fmt.Sprintf("%d %x", len(body), sum); strings.TrimSpace(string(out)) != want {
		t.Fatalf("boto3 read %q, want %q", out, want)
	}
}
