// Command kstatus prints how Flux's kstatus library reads each object given on
// stdin (YAML documents): its status (Current, InProgress, Failed, …) and message.
// jobwarden's tests use it to check that its conditions mean what GitOps tools think.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

type verdict struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(os.Stdin), 4096)
	out := json.NewEncoder(os.Stdout)
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if err == io.EOF {
				return
			}
			fmt.Fprintln(os.Stderr, "kstatus: cannot decode input:", err)
			os.Exit(2)
		}
		// apimachinery's JSON keeps whole numbers as int64, as the API server does.
		object := map[string]interface{}{}
		if err := utiljson.Unmarshal(raw, &object); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: cannot decode input:", err)
			os.Exit(2)
		}
		if len(object) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: object}
		result, err := status.Compute(u)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", u.GetName(), err)
			os.Exit(1)
		}
		if err := out.Encode(verdict{u.GetName(), string(result.Status), result.Message}); err != nil {
			os.Exit(1)
		}
	}
}
